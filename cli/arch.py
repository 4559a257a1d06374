"""``nao-tf arch``: inspect, validate, sample, list and draw architectures."""

from __future__ import annotations

import argparse
import json

from nao_tf import zoo
from nao_tf.architectures import resolve
from nao_tf.cli.argtypes import int_in_range, output_path, positive_int, seed
from nao_tf.seeding import rng
from nao_tf.spaces import SPACES, get_space

# arch sample holds every sample in memory: a million is plenty and still fits.
MAX_SAMPLES = 1_000_000
ARCH_HELP = "architecture: zoo name (e.g. NAONet-A), integer form, readable form, NB201 string or JSON file"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("arch", help="inspect, validate, sample and draw architectures")
    cmds = parser.add_subparsers(dest="arch_command", metavar="SUBCOMMAND", parser_class=type(parser))
    cmds.required = True

    show = cmds.add_parser("show", help="readable form, integer form and controller tokens")
    show.add_argument("arch", help=ARCH_HELP)
    _space_arg(show)
    show.add_argument("--json", action="store_true", help="print the JSON form instead")
    show.add_argument("--params", action="store_true",
                      help="CNN cells: trainable parameters of the network (auxiliary head excluded)")
    show.add_argument("--layers", type=positive_int, default=6,
                      help="with --params: cells per stage N (default 6)")
    show.add_argument("--channels", type=positive_int, default=36, help="with --params: filters F (default 36)")
    show.add_argument("--classes", type=positive_int, default=10, help="with --params: classes (default 10)")
    show.set_defaults(func=_show)

    validate = cmds.add_parser("validate", help="exit 0 if every architecture is valid, else 2 with the reason")
    validate.add_argument("arch", nargs="+", help=ARCH_HELP)
    _space_arg(validate)
    validate.set_defaults(func=_validate)

    sample = cmds.add_parser("sample", help="uniformly random valid architectures")
    sample.add_argument("--space", required=True, choices=sorted(SPACES), help="search space")
    sample.add_argument("--n", type=int_in_range(1, MAX_SAMPLES), default=1, help="how many (default 1)")
    sample.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    sample.add_argument("--format", choices=("integers", "readable", "json"), default="integers")
    sample.set_defaults(func=_sample)

    zoo_cmd = cmds.add_parser("zoo", help="list the published cells")
    zoo_cmd.add_argument("--json", action="store_true")
    zoo_cmd.set_defaults(func=_zoo)

    render = cmds.add_parser("render", help="draw the cell(s): Graphviz DOT plus PNG/SVG/PDF")
    render.add_argument("arch", help=ARCH_HELP)
    _space_arg(render)
    render.add_argument("-o", "--out", type=output_path, required=True,
                        help="output picture (.png, .svg, .pdf) or .dot file")
    render.set_defaults(func=_render)


def _space_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", choices=sorted(SPACES), help="search space (inferred when omitted)")


def _show(args: argparse.Namespace) -> int:
    arch = resolve(args.arch, args.space)
    space = get_space(arch.space)
    params = None
    if getattr(args, "params", False):
        from nao_tf.children.params import count_params  # lazy: only CNN parameter counting needs it

        params = count_params(arch, args.layers, args.channels, args.classes)
    if args.json:
        data = space.to_dict(arch)
        if params is not None:
            data["params"] = {"layers": args.layers, "channels": args.channels, "classes": args.classes,
                              "trainable": params}
        print(json.dumps(data, indent=2))
        return 0
    print(f"space:    {arch.space}")
    print(f"readable: {space.format(arch, 'readable')}")
    print(f"integers: {space.format(arch, 'integers')}")
    print(f"tokens:   {' '.join(map(str, space.encode(arch)))}")
    if params is not None:
        print(f"params:   {params} ({params / 1e6:.2f}M at N={args.layers}, F={args.channels}, "
              f"{args.classes} classes, auxiliary head excluded)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    for text in args.arch:
        arch = resolve(text, args.space)
        print(f"ok: {arch.space}: {get_space(arch.space).format(arch)}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    for arch in space.sample(rng(args.seed), args.n):
        print(space.format(arch, args.format))
    return 0


def _zoo(args: argparse.Namespace) -> int:
    entries = list(zoo.ZOO.values())
    if args.json:
        print(json.dumps([{"name": e.name, "space": e.space, "integers": e.integers, "source": e.source}
                          for e in entries], indent=2))
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:<{width}}  {e.space:<11}  {e.source}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from nao_tf.render import render

    arch = resolve(args.arch, args.space)
    for path in render(arch, args.out):
        print(f"wrote {path}")
    return 0
