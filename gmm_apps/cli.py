"""Command line: ``gmm-apps`` / ``python -m gmm_apps``.

The only module that prints.  A user mistake prints one ``error: ...`` line
and exits with status 2; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import functools
import logging
import re
import signal
import sys
import threading
import warnings
from pathlib import Path

from . import __version__
from .errors import Terminated, UserError

_NUMPY_SCALAR = re.compile(r"np\.(?:float|int|uint|complex|bool|str)\w*\((.*?)\)")


#: characters that end a line for ``str.splitlines`` (and terminals) besides the newline, shown escaped (a file
#: name holding a form feed)
_BREAKS = {c: repr(chr(c))[1:-1] for c in (0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)}


def _clean(msg):
    """One line, with NumPy scalar reprs (``np.float64(1.5)``) shown as plain values."""
    return _NUMPY_SCALAR.sub(r"\1", str(msg).replace("\r\n", " ").replace("\n", " ").translate(_BREAKS))


def _on_sigterm(signum, frame):
    raise Terminated()


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line reported as the one ``error: ...`` line every mistake gets."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message} (see {self.prog.split()[0]} --help)")


def _overwrite_option(command):
    command.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run at --out (only a run folder as its run left it: never a folder, file or "
        "link gmm_apps did not write)",
    )


def _jobs_option(command, text):
    command.add_argument("--jobs", "-j", type=_count, default=None, metavar="N", help=text)


def _count(text):
    """``--jobs``'s value: a whole number, 1 or more."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, 1 or more, got {text!r}")
    return n


def _run_command(sub):
    r = sub.add_parser("run", help="fit a pipeline from a YAML config and write a run folder")
    r.add_argument("config", help="YAML config file, or a pipeline's name for its defaults (on its bundled sample)")
    r.add_argument("--out", help="run folder to write (default runs/<pipeline>-<timestamp>)")
    r.add_argument("--seed", type=int, help="random seed (overrides model.random_state)")
    r.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key by its dotted path, e.g. --set data.path=prices.csv",
    )
    r.add_argument(
        "--each",
        action="append",
        default=[],
        metavar="PATH",
        help="run the config once per file (a file, folder or glob; repeatable), each in a run folder of its own "
        "inside --out, with runs.csv and report.html side by side",
    )
    r.add_argument(
        "--keep-going",
        action="store_true",
        help="with --each: a file that cannot be run is left out (its error in runs.csv) and the others run",
    )
    _jobs_option(r, "with --each: files run at once, each in a process of its own (default 1; at most the cores)")
    r.add_argument("--quiet", action="store_true", help="no progress bars or progress messages")
    _overwrite_option(r)


def _apply_command(sub):
    a = sub.add_parser("apply", help="use a finished run's saved model on new data")
    a.add_argument("run_dir", help="folder written by 'run' (or by 'run --each': a batch of runs)")
    a.add_argument(
        "input", help="new data: a file, folder or glob (to a run of one file: each file of a folder or glob in turn)"
    )
    a.add_argument("--out", help="folder to write (default runs/<pipeline>-apply-<timestamp>)")
    a.add_argument("--quiet", action="store_true")
    a.add_argument(
        "--keep-going",
        action="store_true",
        help="a batch of runs, or a folder of new files: a new file that cannot be applied is left out (its error "
        "in runs.csv)",
    )
    _jobs_option(
        a, "a batch of runs, or a folder of new files: files applied at once, each in a process of its own (default 1)"
    )
    a.add_argument(
        "--update",
        action="store_true",
        help="also learn from the input (new reference data) and save the updated model in --out "
        "(pipelines that support it: anomaly); the run folder is never changed",
    )
    _overwrite_option(a)


def _parser():
    p = _Parser(
        prog="gmm-apps",
        description="Gaussian-mixture applications: regimes, customers, images, speakers, anomalies.",
    )
    p.add_argument("--version", action="version", version=f"gmm_apps {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    _run_command(sub)
    _apply_command(sub)

    v = sub.add_parser("validate", help="check a config without running it")
    v.add_argument("config", help="YAML config file, or a pipeline's name")
    v.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")

    i = sub.add_parser("init", help="write a pipeline's default config, every key commented")
    i.add_argument("pipeline", help="pipeline name (see 'gmm-apps list')")
    i.add_argument("file", nargs="?", help="config file to write (default: print it)")
    i.add_argument("--data", metavar="PATH", help="your own input: its path, columns and settings filled in, to check")

    s = sub.add_parser("show", help="print a finished run's headline and key figures")
    s.add_argument("run_dir", help="folder written by 'run' or 'apply'")

    sub.add_parser("list", help="list the registered pipelines")
    return p


def _setup_logging(quiet, debug):
    # --quiet: only the result and errors on the terminal; warnings still go to the run's run.log
    level = logging.DEBUG if debug else (logging.ERROR if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if not debug else "%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    for name in ("gmm_apps", "py.warnings"):
        lg = logging.getLogger(name)
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    warnings.simplefilter("ignore", ResourceWarning)  # unclosed handles of libraries: nothing a user can act on
    return handler


def main(argv=None):
    """Entry point; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except UserError as exc:
        print(f"error: {_clean(exc)}", file=sys.stderr)
        return exc.exit_code
    if args.command is None:
        _parser().print_help()
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        # a scheduler's or `timeout`'s SIGTERM cleans up as Ctrl-C does
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    with warnings.catch_warnings():
        handler = _setup_logging(getattr(args, "quiet", False), args.debug)
        try:
            return _dispatch(args)
        except UserError as exc:
            if args.debug:
                raise
            print(f"error: {_clean(exc)}", file=sys.stderr)
            return exc.exit_code
        except Terminated:
            print("error: terminated (SIGTERM); nothing was written", file=sys.stderr)
            return _handled_interrupt(143)
        except KeyboardInterrupt:
            print("error: interrupted; nothing was written", file=sys.stderr)
            return _handled_interrupt(130)
        except Exception as exc:  # a bug: say so in one line, traceback with --debug
            if isinstance(stop := _interruption(exc), Terminated):
                print("error: terminated (SIGTERM); nothing was written", file=sys.stderr)
                return _handled_interrupt(143)
            if stop is not None:
                print("error: interrupted; nothing was written", file=sys.stderr)
                return _handled_interrupt(130)
            if args.debug:
                raise
            print(
                f"error: internal error ({type(exc).__name__}: {_clean(exc)}); rerun with --debug for the "
                "traceback and report it",
                file=sys.stderr,
            )
            return 1
        finally:
            for name in ("gmm_apps", "py.warnings"):
                logging.getLogger(name).removeHandler(handler)
            logging.captureWarnings(False)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _interruption(exc):
    """The Ctrl-C or SIGTERM inside an error that wraps it (one arriving while a class is made, as during an
    import, comes out as "RuntimeError: Error calling __set_name__"), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):  # SIGTERM's Terminated is one
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _handled_interrupt(status):
    """Return ``status`` after a Ctrl-C was handled, so that ``python -m gmm_apps`` exits with it.

    CPython marks a KeyboardInterrupt as unhandled when it escapes code run by ``exec`` of a string
    (dataclasses and namedtuple build their methods that way, so an import can be the place), even
    if it is caught further out; ``python -m`` then ends the process by SIGINT instead of with our
    status. Every evaluation of a string clears that mark, so one of nothing does.
    """
    exec("None")  # clears the interpreter's unhandled-interrupt mark; see the docstring
    return status


def _dispatch(args):
    from . import registry, runs  # start-up time: --help and --version need neither

    if args.command == "list":
        for name, desc in registry.describe():
            print(f"{name:12s} {desc}")
        return 0
    if args.command == "init":
        return _init(args.pipeline, args.file, args.data)
    if args.command == "show":
        print(runs.show(args.run_dir))
        return 0
    if args.command in ("validate", "run"):  # a pipeline's name: its defaults, as gmm_apps.run("customers") takes it
        config = _config_or_name(args.config, registry.available())
    if args.command == "validate":
        pipeline, config = runs.prepare(config, sets=args.sets)
        print(f"{args.config}: valid {config.pipeline} config")
        return 0
    if args.command == "run":
        if args.each:
            from .batch import execute_batch  # start-up time: only for run --each

            run = functools.partial(execute_batch, each=args.each, keep_going=args.keep_going, n_jobs=args.jobs or 1)
        elif args.keep_going:
            raise UserError("--keep-going: only with --each (a file that cannot be run is left out of the batch)")
        elif args.jobs is not None:
            raise UserError("--jobs: only with --each (files run at once); a run of one file uses one process")
        else:
            run = runs.execute_run
        run_dir, summary = run(
            config, out=args.out, seed=args.seed, sets=args.sets, quiet=args.quiet, overwrite=args.overwrite
        )
        headline = summary.get("headline")
        if headline:
            print(headline)
        print(f"wrote {run_dir}")
        return 0
    if args.command == "apply":
        from . import batch  # start-up time: only for apply

        options = {"update": args.update, "keep_going": args.keep_going, "n_jobs": args.jobs}
        apply = batch.apply_route(args.run_dir, args.input, **options) or functools.partial(
            runs.execute_apply, update=args.update
        )
        out_dir, summary = apply(args.run_dir, args.input, out=args.out, quiet=args.quiet, overwrite=args.overwrite)
        headline = summary.get("headline")
        if headline:
            print(headline)
        print(f"wrote {out_dir}")
        return 0
    raise AssertionError(args.command)


def _config_or_name(text, pipelines):
    """The config a command names: a file, or a pipeline's name for its defaults (a file of that name wins); a
    missing file named like a pipeline is refused naming the pipeline meant."""
    if Path(text).exists():
        return text
    if text in pipelines:
        return {"pipeline": text}
    if not Path(text).suffix:
        import difflib  # only for this message

        if like := difflib.get_close_matches(text, pipelines, n=1):
            raise UserError(f"{text}: config file not found; a pipeline's name runs its defaults: {like[0]}")
    return text


def _init(name, file, data=None):
    from . import registry  # start-up time: --help and --version need neither
    from .config_docs import commented_config  # start-up time: --help and --version need neither

    pipeline = registry.get_pipeline(name, source="init")
    values = each = None
    alike = ""  # what the config was read from, when --each runs it on others alike
    if data is not None:
        if not Path(data).exists():
            raise UserError(f"--data {data}: no such file or folder")
        if Path(data).is_dir() and pipeline.each_file and not pipeline.folder_input:  # a file each run: --each
            from .batch import each_example  # start-up time: only for init of a folder

            folder, (data, each) = data, each_example(data)
            alike = f" (a file of {folder}; the others alike)"
        elif Path(data).is_file() and (found := pipeline.file_parts(data))[1]:  # an asset a sheet, a series a column
            parts = found[0]
            each, alike = data, f" (its {parts[0].kind} {parts[0].name}; the other {len(parts) - 1} alike)"
        values = pipeline.suggest(str(data))
    text = commented_config(pipeline.config_model, name, values, data)
    if values:
        _valid_init(pipeline, text, data)
    if file is None:
        print(text, end="")
        return 0
    path = Path(file)
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        raise UserError(f"{path}: exists already; init never overwrites a file, choose another name") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None
    said = (f" with {', '.join(values)} from {data}" if values else "") + alike
    then = f"gmm-apps run {path}" + (f" --each {each}" if each else "")
    print(f"wrote {path}{said}; {'check' if values else 'edit'} it, then: {then}")
    return 0


def _valid_init(pipeline, text, data):
    """The config ``init --data`` wrote validates as ``run`` will read it (a value read from the file that the
    schema refuses is said now, naming the file)."""
    import yaml  # start-up time: only when init reads a user's data

    from .config import validate_config  # start-up time: as yaml

    validate_config(yaml.safe_load(text), pipeline.config_model, source=f"init --data {data}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
