"""How cheap a recorded ``@trainable`` call can be: one-frame recorders, from least to most.

Run: python benchmarks/recorder_floor.py [--calls N] [--repeats R] [--horizon H]

genopt records a trainable's calls in place (the function's own code is switched to
recording code, so references made before the run see it; pytest_genopt/instrument.py)
and, where it can, in one frame (pytest_genopt/inline.py).  This prints what recorders
of that kind cost against the bare function, each measured side by side during a
recorded test (tracing.begin_test, a ring buffer of length --horizon), the best of R
interleaved rounds:

- "test check": reads the running test and finds one; records nothing;
- "+ append args": also appends the arguments as a tuple to the test's buffer: less
  than any useful record (no function, no outcome, no snapshot of mutable arguments);
- "python record": the record genopt's inlined recorder makes (a list with the
  trainable, keywords, arguments, then the value or the exception), in Python;
- "C helpers": the same record made and completed by two C functions (begin, end),
  compiled here with the interpreter's C compiler (skipped without one), the recorder
  around them still Python.

Each recorder's objects are closure cells, as loads as cheap as genopt's constants.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import sysconfig
import tempfile
import timeit
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_genopt import tracing
from pytest_genopt.values import ATOMS

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

#: begin(buffer, info, named, running, *arguments) -> the call's record, or None when an
#: argument is not an atom (genopt would snapshot it); end(record, value) stores an
#: atom value (the exception is stored by the Python recorder's handler)
HELPERS = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *append_name, *atoms;
static int atom(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyLong_Type || t == &PyFloat_Type || t == &PyUnicode_Type) return 1;
    return PySet_Contains(atoms, (PyObject *)t) == 1;
}
static PyObject *begin(PyObject *m, PyObject *const *args, Py_ssize_t n) {
    for (Py_ssize_t i = 4; i < n; i++) if (!atom(args[i])) Py_RETURN_NONE;
    PyObject *call = PyList_New(n + 1);
    if (call == NULL) return NULL;
    PyObject *items[5] = {Py_None, args[1], args[2], args[3], Py_None};
    for (Py_ssize_t i = 0; i < 5; i++) { Py_INCREF(items[i]); PyList_SET_ITEM(call, i, items[i]); }
    for (Py_ssize_t i = 4; i < n; i++) {
        Py_INCREF(args[i]);
        PyList_SET_ITEM(call, i + 1, args[i]);
    }
    PyObject *done = PyObject_CallMethodOneArg(args[0], append_name, call);
    if (done == NULL) { Py_DECREF(call); return NULL; }
    Py_DECREF(done);
    return call;
}
static PyObject *end(PyObject *m, PyObject *const *args, Py_ssize_t n) {
    PyObject *call = args[0], *value = args[1];
    if (PyList_GET_ITEM(call, 4) == Py_None && atom(value)) {
        Py_INCREF(value);
        PyObject *old = PyList_GET_ITEM(call, 3);
        PyList_SET_ITEM(call, 3, value);
        Py_DECREF(old);
    }
    Py_RETURN_NONE;
}
static PyObject *set_atoms(PyObject *m, PyObject *kinds) {
    Py_XSETREF(atoms, PySet_New(kinds));
    if (atoms == NULL) return NULL;
    Py_RETURN_NONE;
}
static PyMethodDef methods[] = {
    {"begin", (PyCFunction)(void (*)(void))begin, METH_FASTCALL, NULL},
    {"end", (PyCFunction)(void (*)(void))end, METH_FASTCALL, NULL},
    {"set_atoms", set_atoms, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "recorder_helpers", NULL, -1, methods};
PyMODINIT_FUNC PyInit_recorder_helpers(void) {
    append_name = PyUnicode_InternFromString("append");
    atoms = PySet_New(NULL);
    return PyModule_Create(&module);
}
"""


def bare(a: int, b: int) -> int:
    return a + b


def test_check() -> Callable[[int, int], int]:
    def recorded(a: int, b: int) -> int:
        record = tracing._CURRENT
        if record is None:
            return a + b
        return a + b

    return recorded


def append_args() -> Callable[[int, int], int]:
    def recorded(a: int, b: int) -> int:
        record = tracing._CURRENT
        if record is None:
            return a + b
        record.buffer.append((a, b))
        return a + b

    return recorded


def python_record(info: object, named: object, running: object) -> Callable[[int, int], int]:
    atoms = ATOMS

    def recorded(a: int, b: int) -> int:
        record = tracing._CURRENT
        if record is None:
            return a + b
        if ((t := type(a)) is int or t is float or t is str or t in atoms) and (
            (t := type(b)) is int or t is float or t is str or t in atoms
        ):
            call: list[Any] = [None, info, named, running, None, a, b]
        else:
            raise TypeError("not reached: the benchmark passes atoms")
        record.buffer.append(call)
        value = None
        try:
            value = a + b
            return value
        except BaseException as error:
            call[4] = error
            raise
        finally:
            if call[4] is None and ((t := type(value)) is int or t is float or t in atoms):
                call[3] = value

    return recorded


def c_record(
    helpers: ModuleType, info: object, named: object, running: object
) -> Callable[[int, int], int]:
    begin, end = helpers.begin, helpers.end

    def recorded(a: int, b: int) -> int:
        record = tracing._CURRENT
        if record is None:
            return a + b
        call = begin(record.buffer, info, named, running, a, b)
        value = None
        try:
            value = a + b
            return value
        except BaseException as error:
            call[4] = error
            raise
        finally:
            end(call, value)

    return recorded


def compiled_helpers(folder: Path) -> ModuleType | None:
    """The C helpers built with the interpreter's compiler, or None (why is printed)."""
    source = folder / "recorder_helpers.c"
    source.write_text(HELPERS)
    target = folder / f"recorder_helpers{sysconfig.get_config_var('EXT_SUFFIX')}"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()
    include = sysconfig.get_paths()["include"]
    command = [*compiler, "-O2", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(target)]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"C helpers skipped: {getattr(exc, 'stderr', None) or exc}".strip())
        return None
    spec = importlib.util.spec_from_file_location("recorder_helpers", target)
    if spec is None or spec.loader is None:
        print(f"C helpers skipped: {target} does not load as a module")
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.set_atoms(ATOMS)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--horizon", type=int, default=10)
    args = parser.parse_args()
    info, named = object(), {}
    with tempfile.TemporaryDirectory() as tmp:
        helpers = compiled_helpers(Path(tmp))
        variants = {
            "bare": bare,
            "test check": test_check(),
            "+ append args": append_args(),
            "python record": python_record(info, named, tracing.RUNNING),
        }
        if helpers is not None:
            variants["C helpers"] = c_record(helpers, info, named, tracing.RUNNING)
        best = dict.fromkeys(variants, float("inf"))
        tracing.activate()
        tracing.begin_test(args.horizon)
        try:
            for _ in range(args.repeats):
                for name, function in variants.items():
                    seconds = timeit.timeit("f(1, 2)", globals={"f": function}, number=args.calls)
                    best[name] = min(best[name], seconds)
        finally:
            tracing.end_test()
            tracing.deactivate()
    per_call = {name: seconds / args.calls * 1e9 for name, seconds in best.items()}
    for name, ns in per_call.items():
        print(f"{name:>14}: {ns:7.1f} ns/call {ns / per_call['bare']:5.2f}x")
    print(f"Python {sys.version.split()[0]}, horizon {args.horizon}")


if __name__ == "__main__":
    main()
