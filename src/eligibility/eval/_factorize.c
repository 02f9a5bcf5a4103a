/* The batch path's row dicts read once, in C: per fact, the distinct cells and each row's code
 * into them (a factorize), and for free-text facts the cells themselves. A translation of
 * `columnar_input.Columns._add`'s keying, never a second meaning: a cell's meaning is decided by
 * `records.convert_value` in Python, once per distinct cell, after this returns.
 *
 * Keys are those of the Python path: a cell of exactly type str is keyed by itself, any other cell
 * by the tuple (type(cell), cell), so True, 1 and 1.0 are three cells ("1.0" is no yes/no answer).
 * A row without the fact gets the `missing` marker as its cell. A column with a cell that cannot be
 * hashed (a list or dict of a JSON record) is declined (None in its place), the Python path keys it
 * by repr. Every exception but that TypeError propagates (a KeyboardInterrupt in a hostile
 * __hash__ or __eq__ is not swallowed). Rows that are not exactly dicts decline the whole call (a
 * Mapping may define its own lookup).
 *
 * Built with the limited API (abi3): one wheel for every CPython >= 3.11. */

#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030B0000
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* One factorized column while the rows are read. */
typedef struct {
    PyObject *name;     /* borrowed from the names tuple */
    PyObject *position; /* key -> code (int); NULL once the column is declined */
    PyObject *distinct; /* the cells in order of first appearance */
    PyObject *codes;    /* bytes of n int64 codes, written in place before it is shared */
    int64_t *out;
    PyObject *last;     /* the previous row's cell (a strong reference; compared by identity only) */
    int64_t last_code;
} Factor;

/* One free-text column: the cells, and the rows whose cell is not a plain text. */
typedef struct {
    PyObject *name;
    PyObject *cells;
    PyObject *odd;
} Text;

/* 1 if `cell` is a str that str.strip() leaves as it is and that is not empty: its first and
 * last characters are printable ASCII other than the space (none of them is whitespace). Any
 * other cell is "odd" and takes the Python expression of `_free_text`. -1 on a Python error. */
static int plain_text(PyObject *cell) {
    if (!PyUnicode_CheckExact(cell)) {
        return 0;
    }
    Py_ssize_t len = PyUnicode_GetLength(cell);
    if (len < 0) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    Py_UCS4 first = PyUnicode_ReadChar(cell, 0);
    if (first == (Py_UCS4)-1 && PyErr_Occurred()) {
        return -1;
    }
    Py_UCS4 last = PyUnicode_ReadChar(cell, len - 1);
    if (last == (Py_UCS4)-1 && PyErr_Occurred()) {
        return -1;
    }
    return first > 0x20 && first < 0x7f && last > 0x20 && last < 0x7f;
}

/* The code of `cell` in column `f`, adding it as a new distinct cell if need be. 0, or 1 when the
 * column is declined now (an unhashable cell), or -1 on a Python error. `cell` is a strong
 * reference held by the caller. */
static int factor_cell(Factor *f, PyObject *cell, PyObject *missing, PyObject *const *singles, int64_t *code) {
    if (cell == f->last) {
        *code = f->last_code;
        return 0;
    }
    PyObject *key;
    if (cell == missing || PyUnicode_CheckExact(cell)) {
        key = cell;
        Py_INCREF(key);
    } else if (cell == Py_None || cell == Py_True || cell == Py_False) {
        /* The keys of the empty cell and the yes/no answers, packed once per call. */
        key = singles[cell == Py_None ? 0 : cell == Py_True ? 1 : 2];
        Py_INCREF(key);
    } else {
        key = PyTuple_Pack(2, (PyObject *)Py_TYPE(cell), cell);
        if (key == NULL) {
            return -1;
        }
    }
    PyObject *found = PyDict_GetItemWithError(f->position, key); /* borrowed */
    if (found == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                return 1;
            }
            return -1;
        }
        Py_ssize_t next = PyList_Size(f->distinct);
        PyObject *num = next < 0 ? NULL : PyLong_FromSsize_t(next);
        if (num == NULL) {
            Py_DECREF(key);
            return -1;
        }
        int rc = PyDict_SetItem(f->position, key, num);
        Py_DECREF(num);
        Py_DECREF(key);
        if (rc < 0) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                return 1;
            }
            return -1;
        }
        if (PyList_Append(f->distinct, cell) < 0) {
            return -1;
        }
        *code = (int64_t)next;
    } else {
        Py_DECREF(key);
        Py_ssize_t value = PyLong_AsSsize_t(found);
        if (value == -1 && PyErr_Occurred()) {
            return -1;
        }
        *code = (int64_t)value;
    }
    /* Rosters sort or repeat: the next row often holds the very same object. */
    Py_INCREF(cell);
    Py_XDECREF(f->last);
    f->last = cell;
    f->last_code = *code;
    return 0;
}

static void decline(Factor *f) {
    Py_CLEAR(f->position);
    Py_CLEAR(f->distinct);
    Py_CLEAR(f->codes);
    Py_CLEAR(f->last);
    f->out = NULL;
}

static void clear_all(Factor *fs, Py_ssize_t nf, Text *ts, Py_ssize_t nt) {
    for (Py_ssize_t j = 0; j < nf; j++) {
        decline(&fs[j]);
    }
    for (Py_ssize_t j = 0; j < nt; j++) {
        Py_CLEAR(ts[j].cells);
        Py_CLEAR(ts[j].odd);
    }
}

/* Reads one row into every column. 0, 1 when the row is not exactly a dict, -1 on an error. */
static int read_row(PyObject *row, Py_ssize_t i, Factor *fs, Py_ssize_t nf, Text *ts, Py_ssize_t nt,
                    PyObject *missing, PyObject *const *singles) {
    if (!PyDict_CheckExact(row)) {
        return 1;
    }
    for (Py_ssize_t j = 0; j < nf; j++) {
        Factor *f = &fs[j];
        if (f->position == NULL) {
            continue;
        }
        PyObject *cell = PyDict_GetItemWithError(row, f->name);
        if (cell == NULL) {
            if (PyErr_Occurred()) {
                return -1;
            }
            cell = missing;
        }
        /* A hostile __hash__ or __eq__ may take the cell out of its row: held while it is read. */
        Py_INCREF(cell);
        int64_t code = 0;
        int rc = factor_cell(f, cell, missing, singles, &code);
        if (rc == 0) {
            f->out[i] = code;
        }
        Py_DECREF(cell);
        if (rc < 0) {
            return -1;
        }
        if (rc == 1) {
            decline(f);
        }
    }
    for (Py_ssize_t j = 0; j < nt; j++) {
        Text *t = &ts[j];
        PyObject *cell = PyDict_GetItemWithError(row, t->name);
        if (cell == NULL) {
            if (PyErr_Occurred()) {
                return -1;
            }
            cell = missing;
        }
        Py_INCREF(cell);
        if (PyList_SetItem(t->cells, i, cell) < 0) { /* steals the new reference */
            return -1;
        }
        int plain = plain_text(cell);
        if (plain < 0) {
            return -1;
        }
        if (!plain) {
            PyObject *num = PyLong_FromSsize_t(i);
            if (num == NULL) {
                return -1;
            }
            int rc = PyList_Append(t->odd, num);
            Py_DECREF(num);
            if (rc < 0) {
                return -1;
            }
        }
    }
    return 0;
}

static PyObject *factorize(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *records, *factor_names, *text_names, *missing;
    if (!PyArg_ParseTuple(args, "O!O!O!O", &PyList_Type, &records, &PyTuple_Type, &factor_names, &PyTuple_Type,
                          &text_names, &missing)) {
        return NULL;
    }
    /* Our own references to the rows: a hostile key may empty the caller's list meanwhile. */
    PyObject *rows = PySequence_Tuple(records);
    if (rows == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_Size(rows);
    Py_ssize_t nf = PyTuple_Size(factor_names);
    Py_ssize_t nt = PyTuple_Size(text_names);
    if (n < 0 || nf < 0 || nt < 0) {
        Py_DECREF(rows);
        return NULL;
    }
    if ((size_t)n > (size_t)PY_SSIZE_T_MAX / sizeof(int64_t)) {
        Py_DECREF(rows);
        return PyErr_NoMemory();
    }
    Factor *fs = PyMem_Calloc((size_t)(nf > 0 ? nf : 1), sizeof(Factor));
    Text *ts = PyMem_Calloc((size_t)(nt > 0 ? nt : 1), sizeof(Text));
    PyObject *result = NULL;
    PyObject *singles[3] = {
        PyTuple_Pack(2, (PyObject *)Py_TYPE(Py_None), Py_None),
        PyTuple_Pack(2, (PyObject *)Py_TYPE(Py_True), Py_True),
        PyTuple_Pack(2, (PyObject *)Py_TYPE(Py_False), Py_False),
    };
    if (singles[0] == NULL || singles[1] == NULL || singles[2] == NULL) {
        goto fail;
    }
    if (fs == NULL || ts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < nf; j++) {
        Factor *f = &fs[j];
        f->name = PyTuple_GetItem(factor_names, j);
        if (f->name == NULL) {
            goto fail;
        }
        f->position = PyDict_New();
        f->distinct = PyList_New(0);
        f->codes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
        if (f->position == NULL || f->distinct == NULL || f->codes == NULL) {
            goto fail;
        }
        f->out = (int64_t *)PyBytes_AsString(f->codes);
        if (f->out == NULL) {
            goto fail;
        }
    }
    for (Py_ssize_t j = 0; j < nt; j++) {
        Text *t = &ts[j];
        t->name = PyTuple_GetItem(text_names, j);
        if (t->name == NULL) {
            goto fail;
        }
        t->cells = PyList_New(n);
        t->odd = PyList_New(0);
        if (t->cells == NULL || t->odd == NULL) {
            goto fail;
        }
        /* PyList_New leaves NULL slots; a list seen by Python code must hold objects. */
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_INCREF(Py_None);
            if (PyList_SetItem(t->cells, i, Py_None) < 0) {
                goto fail;
            }
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((i & 0xffff) == 0xffff && PyErr_CheckSignals() < 0) {
            goto fail;
        }
        PyObject *row = PyTuple_GetItem(rows, i);
        if (row == NULL) {
            goto fail;
        }
        int rc = read_row(row, i, fs, nf, ts, nt, missing, singles);
        if (rc < 0) {
            goto fail;
        }
        if (rc == 1) {
            clear_all(fs, nf, ts, nt);
            Py_INCREF(Py_None);
            result = Py_None;
            goto done;
        }
    }
    result = PyList_New(nf + nt);
    if (result == NULL) {
        goto fail;
    }
    for (Py_ssize_t j = 0; j < nf; j++) {
        Factor *f = &fs[j];
        PyObject *item;
        if (f->position == NULL) {
            Py_INCREF(Py_None);
            item = Py_None;
        } else {
            item = PyTuple_Pack(2, f->distinct, f->codes);
            if (item == NULL) {
                goto fail;
            }
        }
        if (PyList_SetItem(result, j, item) < 0) {
            goto fail;
        }
    }
    for (Py_ssize_t j = 0; j < nt; j++) {
        PyObject *item = PyTuple_Pack(2, ts[j].cells, ts[j].odd);
        if (item == NULL || PyList_SetItem(result, nf + j, item) < 0) {
            goto fail;
        }
    }
    clear_all(fs, nf, ts, nt);
    goto done;
fail:
    Py_CLEAR(result);
    if (fs != NULL && ts != NULL) {
        clear_all(fs, nf, ts, nt);
    }
done:
    for (int k = 0; k < 3; k++) {
        Py_XDECREF(singles[k]);
    }
    PyMem_Free(fs);
    PyMem_Free(ts);
    Py_DECREF(rows);
    return result;
}

static PyMethodDef methods[] = {
    {"factorize", factorize, METH_VARARGS,
     "factorize(records, factor_names, text_names, missing) -> list | None\n"
     "Per factor name (distinct cells, int64 codes as bytes) or None (an unhashable cell); per text name\n"
     "(cells, rows whose cell is not a plain text). None if a row is not exactly a dict."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_factorize", "The batch path's row dicts read once, in C (see columnar_input).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__factorize(void) { return PyModule_Create(&module); }
