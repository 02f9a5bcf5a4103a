/* The rows of a piece of sheet XML in the simple form, in C: a translation of
 * `xlsx_sheet._simple_rows` (the reference), never a second meaning. It accepts a strict subset of
 * what `_simple_rows` accepts, i.e. exactly the form XlsxWriter and Excel write a roster in:
 *
 *   ws* ( <row r="N" ...> ( <c r="COLn" ...><v>TEXT</v></c>
 *                         | <c r="COLn" ...><is><t>TEXT</t></is></c> )* </row> ws* )+
 *
 * and returns None for anything else (other tags, text between tags, entities or _x escapes in an
 * inline string, rows out of order or past max_rows, columns past max_columns, a failing conversion),
 * so that the Python path reads that piece by its own rules. The meaning of a <v> cell is never
 * computed here: its attributes and text, one contiguous span of the input (` s="3" t="s"><v>12`),
 * are the key into a memo dict, and a key the memo lacks goes to `convert` (Python), which also
 * decides what is memoised. One form is read here: a shared string as XlsxWriter and Excel write it
 * (attributes exactly ` t="s"` or ` s="N" t="s"`, a <v> of ASCII digits within the table), which
 * `_Values._convert` reads as `shared[int(v)]` whatever the style; any other shared-string cell
 * (spaces, a sign, an index past the table) goes to `convert`, as a roster's names are unique and
 * would miss the memo every time. Every read is bounds-checked against the piece's length.
 *
 * Built with the limited API (abi3): one wheel for every CPython >= 3.11. */

#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x030B0000
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

typedef struct {
    const char *p;
    Py_ssize_t n;
    Py_ssize_t i;
} Cursor;

/* 1 if the piece continues with `lit` at the cursor (and moves past it), else 0. */
static int take(Cursor *c, const char *lit, Py_ssize_t len) {
    if (c->n - c->i < len || memcmp(c->p + c->i, lit, (size_t)len) != 0) {
        return 0;
    }
    c->i += len;
    return 1;
}

#define TAKE(c, lit) take((c), (lit), (Py_ssize_t)(sizeof(lit) - 1))

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* Sets *out to the row's cells with x placed at column i, as `_simple_rows` places it:
 * appended, after padding with "", or replacing a cell given before. -1 on a Python error. */
static int place(PyObject *cells, Py_ssize_t i, PyObject *x, PyObject *empty) {
    Py_ssize_t n = PyList_Size(cells);
    if (n < 0) {
        return -1;
    }
    if (i < n) {
        Py_INCREF(x);
        return PyList_SetItem(cells, i, x); /* steals the new reference */
    }
    for (; n < i; n++) {
        if (PyList_Append(cells, empty) < 0) {
            return -1;
        }
    }
    return PyList_Append(cells, x);
}

/* A row's number and cells as the tuple `_simple_rows` gives. Steals `cells`. */
static int add_row(PyObject *out, long long number, PyObject *cells) {
    PyObject *num = PyLong_FromLongLong(number);
    if (num == NULL) {
        Py_DECREF(cells);
        return -1;
    }
    PyObject *row = PyTuple_Pack(2, num, cells);
    Py_DECREF(num);
    Py_DECREF(cells);
    if (row == NULL) {
        return -1;
    }
    int rc = PyList_Append(out, row);
    Py_DECREF(row);
    return rc;
}

enum { DECLINE = 0, ERROR = -1, OK = 1 };

/* The shared string of a cell whose attributes span [a, b) and whose <v> text spans [v, w), if
 * they are in the form described at the top: a new reference; NULL (no error set) if not. */
static PyObject *shared_string(const char *p, Py_ssize_t a, Py_ssize_t b, Py_ssize_t v, Py_ssize_t w,
                               PyObject *shared) {
    static const char tail[] = " t=\"s\"";
    const Py_ssize_t tl = (Py_ssize_t)(sizeof(tail) - 1);
    if (b - a < tl || memcmp(p + b - tl, tail, (size_t)tl) != 0) {
        return NULL;
    }
    Py_ssize_t head = b - tl - a; /* "" or ` s="N"` */
    if (head != 0) {
        if (head < 6 || memcmp(p + a, " s=\"", 4) != 0 || p[b - tl - 1] != '"') {
            return NULL;
        }
        for (Py_ssize_t k = a + 4; k < b - tl - 1; k++) {
            if (p[k] < '0' || p[k] > '9') {
                return NULL;
            }
        }
    }
    if (w - v < 1 || w - v > 9) {
        return NULL;
    }
    Py_ssize_t index = 0;
    for (Py_ssize_t k = v; k < w; k++) {
        if (p[k] < '0' || p[k] > '9') {
            return NULL;
        }
        index = index * 10 + (p[k] - '0');
    }
    if (index >= PyList_Size(shared)) {
        return NULL;
    }
    PyObject *x = PyList_GetItem(shared, index); /* borrowed */
    Py_XINCREF(x);
    return x;
}

/* One cell at the cursor into `cells`; DECLINE for anything outside the simple form. */
static int scan_cell(Cursor *c, PyObject *cells, PyObject *memo, PyObject *convert, PyObject *shared,
                     long long max_columns, PyObject *empty) {
    if (!TAKE(c, "<c r=\"")) {
        return DECLINE;
    }
    long long col = 0;
    int letters = 0;
    while (c->i < c->n && c->p[c->i] >= 'A' && c->p[c->i] <= 'Z') {
        if (++letters > 3) {
            return DECLINE;
        }
        col = col * 26 + (c->p[c->i] - 'A' + 1);
        c->i++;
    }
    if (letters == 0) {
        return DECLINE;
    }
    int digits = 0;
    while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
        digits++;
        c->i++;
    }
    if (digits == 0 || !TAKE(c, "\"")) {
        return DECLINE;
    }
    col -= 1; /* 0-based */
    if (col >= max_columns) {
        return DECLINE; /* past Excel's grid: the Python path refuses it */
    }
    Py_ssize_t attrs = c->i;
    while (c->i < c->n && c->p[c->i] != '>') {
        if (c->p[c->i] == '<') {
            return DECLINE;
        }
        c->i++;
    }
    if (c->i >= c->n || (c->i > attrs && c->p[c->i - 1] == '/')) {
        return DECLINE; /* unclosed, or a self-closing cell */
    }
    Py_ssize_t attrs_end = c->i;
    c->i++; /* the '>' */
    PyObject *x;
    if (TAKE(c, "<v>")) {
        Py_ssize_t text = c->i;
        while (c->i < c->n && c->p[c->i] != '<') {
            c->i++;
        }
        Py_ssize_t end = c->i;
        if (!TAKE(c, "</v></c>")) {
            return DECLINE;
        }
        x = shared_string(c->p, attrs, attrs_end, text, end, shared);
        if (x != NULL) {
            int rc = place(cells, (Py_ssize_t)col, x, empty);
            Py_DECREF(x);
            return rc < 0 ? ERROR : OK;
        }
        if (PyErr_Occurred()) {
            return ERROR;
        }
        PyObject *key = PyUnicode_DecodeUTF8(c->p + attrs, end - attrs, "strict");
        if (key == NULL) {
            PyErr_Clear();
            return DECLINE;
        }
        x = PyDict_GetItemWithError(memo, key); /* borrowed */
        if (x != NULL) {
            Py_INCREF(x);
        } else if (PyErr_Occurred()) {
            Py_DECREF(key);
            return ERROR;
        } else {
            x = PyObject_CallFunctionObjArgs(convert, key, NULL);
            if (x == NULL) {
                Py_DECREF(key);
                /* Ctrl-C, an exit or no memory is not this piece's failure: through, as on the
                 * Python path (the conversion is the only Python code while the scan runs, so a
                 * signal during a long read is raised there). */
                if (!PyErr_ExceptionMatches(PyExc_Exception) || PyErr_ExceptionMatches(PyExc_MemoryError)) {
                    return ERROR;
                }
                /* The reference raises or declines on its own for this piece: let it. */
                PyErr_Clear();
                return DECLINE;
            }
        }
        Py_DECREF(key);
    } else if (TAKE(c, "<is><t>")) {
        Py_ssize_t text = c->i;
        while (c->i < c->n && c->p[c->i] != '<') {
            char ch = c->p[c->i];
            if (ch == '&' || (ch == '_' && c->i + 1 < c->n && c->p[c->i + 1] == 'x')) {
                return DECLINE; /* an entity or an _xHHHH_ escape: the Python path unescapes */
            }
            c->i++;
        }
        Py_ssize_t end = c->i;
        if (!TAKE(c, "</t></is></c>")) {
            return DECLINE;
        }
        x = PyUnicode_DecodeUTF8(c->p + text, end - text, "strict");
        if (x == NULL) {
            PyErr_Clear();
            return DECLINE;
        }
    } else {
        return DECLINE;
    }
    int rc = place(cells, (Py_ssize_t)col, x, empty);
    Py_DECREF(x);
    return rc < 0 ? ERROR : OK;
}

/* scan_rows(text, number, memo, convert, shared, max_rows, max_columns) -> list[(int, list)] | None */
static PyObject *scan_rows(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text, *memo, *convert, *shared;
    long long number, max_rows, max_columns;
    if (!PyArg_ParseTuple(args, "ULO!OO!LL", &text, &number, &PyDict_Type, &memo, &convert, &PyList_Type, &shared,
                          &max_rows, &max_columns)) {
        return NULL;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(text, &n);
    if (p == NULL) {
        PyErr_Clear(); /* e.g. a lone surrogate: not a piece the reader decoded */
        Py_RETURN_NONE;
    }
    PyObject *empty = PyUnicode_FromStringAndSize("", 0);
    PyObject *out = PyList_New(0);
    if (empty == NULL || out == NULL) {
        Py_XDECREF(empty);
        Py_XDECREF(out);
        return NULL;
    }
    Cursor c = {p, n, 0};
    int rows = 0;
    int status = OK;
    for (;;) {
        while (c.i < c.n && is_space(c.p[c.i])) {
            c.i++;
        }
        if (c.i >= c.n) {
            break;
        }
        if (!TAKE(&c, "<row r=\"")) {
            status = DECLINE;
            break;
        }
        long long at = 0;
        int digits = 0;
        while (c.i < c.n && c.p[c.i] >= '0' && c.p[c.i] <= '9') {
            if (++digits > 10) {
                break;
            }
            at = at * 10 + (c.p[c.i] - '0');
            c.i++;
        }
        if (digits == 0 || digits > 10 || !TAKE(&c, "\"")) {
            status = DECLINE;
            break;
        }
        while (c.i < c.n && c.p[c.i] != '>' && c.p[c.i] != '<') {
            c.i++;
        }
        if (c.i >= c.n || c.p[c.i] != '>' || c.p[c.i - 1] == '/') {
            status = DECLINE; /* unclosed or self-closing row */
            break;
        }
        c.i++;
        if (at <= number || at > max_rows) {
            status = DECLINE; /* out of order, or past the grid: the Python path's rules */
            break;
        }
        while (number + 1 < at) {
            number++;
            PyObject *none = PyList_New(0);
            if (none == NULL || add_row(out, number, none) < 0) {
                status = ERROR;
                break;
            }
        }
        if (status != OK) {
            break;
        }
        number = at;
        PyObject *cells = PyList_New(0);
        if (cells == NULL) {
            status = ERROR;
            break;
        }
        while (!TAKE(&c, "</row>")) {
            status = scan_cell(&c, cells, memo, convert, shared, max_columns, empty);
            if (status != OK) {
                break;
            }
        }
        if (status != OK) {
            Py_DECREF(cells);
            break;
        }
        if (add_row(out, number, cells) < 0) {
            status = ERROR;
            break;
        }
        rows++;
    }
    Py_DECREF(empty);
    if (status == ERROR) {
        Py_DECREF(out);
        return NULL;
    }
    if (status == DECLINE || rows == 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

/* ---------------------------------------------------------------- the shared strings
 * scan_shared(data) -> list[str] | None: the string table of a sharedStrings.xml in the form
 * XlsxWriter and Excel write it, as `xlsx_sheet.shared_strings` (ElementTree and `_text_of`, the
 * reference) reads it, or None for that reader. The form, a well-formed document by construction:
 *
 *   [<?xml version="1.0" encoding="UTF-8" standalone="yes"?>] ws*
 *   <sst xmlns="MAIN"[ count="N"][ uniqueCount="N"]>   (each at most once, either order)
 *   ( <si><t>TEXT</t></si> | <si><t xml:space="preserve">TEXT</t></si> )*  </sst> ws*
 *
 * TEXT is strict UTF-8 without '<', '&', CR (the parser would normalise it), "]]>", "_x" (an
 * escape `_text_of` decodes), characters XML 1.0 forbids (C0 controls but TAB and LF, U+FFFE,
 * U+FFFF). Anything else (rich text runs, phonetic runs, entities, another prefix) declines. */

static const char SST_HEAD[] = "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"";
static const char XML_DECL[] = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>";

static void skip_space(Cursor *c) {
    while (c->i < c->n && is_space(c->p[c->i])) {
        c->i++;
    }
}

/* ` NAME="digits"` at the cursor: 1 and moves past it, else 0. */
static int take_count(Cursor *c, const char *name, Py_ssize_t len) {
    Py_ssize_t at = c->i;
    if (!take(c, name, len)) {
        return 0;
    }
    int digits = 0;
    while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9') {
        digits++;
        c->i++;
    }
    if (digits == 0 || !TAKE(c, "\"")) {
        c->i = at;
        return 0;
    }
    return 1;
}

/* The end of a TEXT starting at the cursor (the next '<'), or -1 if it holds anything outside
 * the form. */
static Py_ssize_t text_end(const Cursor *c) {
    const unsigned char *p = (const unsigned char *)c->p;
    for (Py_ssize_t k = c->i; k < c->n; k++) {
        unsigned char ch = p[k];
        if (ch == '<') {
            return k;
        }
        if (ch == '&' || ch == '\r' || (ch < 0x20 && ch != '\t' && ch != '\n')) {
            return -1;
        }
        if (ch == '_' && k + 1 < c->n && p[k + 1] == 'x') {
            return -1;
        }
        if (ch == ']' && k + 2 < c->n && p[k + 1] == ']' && p[k + 2] == '>') {
            return -1;
        }
        if (ch == 0xEF && k + 2 < c->n && p[k + 1] == 0xBF && (p[k + 2] == 0xBE || p[k + 2] == 0xBF)) {
            return -1; /* U+FFFE, U+FFFF */
        }
    }
    return -1;
}

static PyObject *scan_shared(PyObject *self, PyObject *args) {
    (void)self;
    /* "S" and PyBytes_AsStringAndSize, not "y#": an abi3 build made with Python 3.13's headers
     * calls PyArg_ParseTuple without the Py_ssize_t flag that 3.11 needs for '#' formats (there
     * it raises SystemError), and every venv of a checkout shares one in-place build. */
    PyObject *data;
    char *p;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "S", &data) || PyBytes_AsStringAndSize(data, &p, &n) < 0) {
        return NULL;
    }
    Cursor c = {p, n, 0};
    if (TAKE(&c, XML_DECL)) {
        skip_space(&c);
    }
    if (!TAKE(&c, SST_HEAD)) {
        Py_RETURN_NONE;
    }
    int count = 0, unique = 0;
    for (;;) {
        if (!count && take_count(&c, " count=\"", 8)) {
            count = 1;
        } else if (!unique && take_count(&c, " uniqueCount=\"", 14)) {
            unique = 1;
        } else {
            break;
        }
    }
    if (!TAKE(&c, ">")) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (;;) {
        if (TAKE(&c, "</sst>")) {
            skip_space(&c);
            if (c.i != c.n) {
                break; /* something after the root: the reference's parser decides */
            }
            return out;
        }
        if (!TAKE(&c, "<si><t>") && !TAKE(&c, "<si><t xml:space=\"preserve\">")) {
            break;
        }
        Py_ssize_t end = text_end(&c);
        if (end < 0) {
            break;
        }
        Py_ssize_t start = c.i;
        c.i = end;
        if (!TAKE(&c, "</t></si>")) {
            break;
        }
        PyObject *text = PyUnicode_DecodeUTF8(p + start, end - start, "strict");
        if (text == NULL) {
            PyErr_Clear();
            break;
        }
        int rc = PyList_Append(out, text);
        Py_DECREF(text);
        if (rc < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    Py_DECREF(out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"scan_rows", scan_rows, METH_VARARGS,
     "scan_rows(text, number, memo, convert, shared, max_rows, max_columns) -> list[(int, list)] | None\n"
     "The rows of a piece of sheet XML in the simple form, as xlsx_sheet._simple_rows gives them, or None."},
    {"scan_shared", scan_shared, METH_VARARGS,
     "scan_shared(data: bytes) -> list[str] | None\n"
     "The strings of a sharedStrings.xml in the simple form, as xlsx_sheet.shared_strings reads them, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_xlsxscan", "The C scanner of simple sheet XML (see xlsx_sheet).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__xlsxscan(void) { return PyModule_Create(&module); }
