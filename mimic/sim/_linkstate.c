/* flatten(link_states, out): copy pybullet's getLinkStates result -- a tuple per link of tuples
 * of floats -- into a C-contiguous float64 buffer, row by row.
 *
 * Why C: it runs once per character per control step; np.fromiter over a chained iterator of
 * the ~130 nested tuples costs ~10 us, this ~1 us. SimCharacter.query falls back to fromiter
 * when the module is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *flatten(PyObject *self, PyObject *args)
{
    PyObject *rows;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "Ow*", &rows, &out))
        return NULL;
    double *o = out.buf;
    Py_ssize_t cap = out.len / (Py_ssize_t)sizeof(double), n = 0;
    PyObject *result = NULL;
    PyObject *fr = PySequence_Fast(rows, "link states must be a sequence");
    if (!fr)
        goto done;
    Py_ssize_t nr = PySequence_Fast_GET_SIZE(fr);
    PyObject **ri = PySequence_Fast_ITEMS(fr);
    for (Py_ssize_t r = 0; r < nr; r++) {
        PyObject *fp = PySequence_Fast(ri[r], "a link state must be a sequence");
        if (!fp)
            goto done;
        Py_ssize_t np_ = PySequence_Fast_GET_SIZE(fp);
        PyObject **pi = PySequence_Fast_ITEMS(fp);
        for (Py_ssize_t p = 0; p < np_; p++) {
            PyObject *fv = PySequence_Fast(pi[p], "a link state part must be a sequence");
            if (!fv) {
                Py_DECREF(fp);
                goto done;
            }
            Py_ssize_t nv = PySequence_Fast_GET_SIZE(fv);
            PyObject **vi = PySequence_Fast_ITEMS(fv);
            if (n + nv > cap) {
                Py_DECREF(fv);
                Py_DECREF(fp);
                PyErr_Format(PyExc_ValueError, "flatten: more than the %zd floats of the output",
                             cap);
                goto done;
            }
            for (Py_ssize_t v = 0; v < nv; v++) {
                double x = PyFloat_AsDouble(vi[v]);
                if (x == -1.0 && PyErr_Occurred()) {
                    Py_DECREF(fv);
                    Py_DECREF(fp);
                    goto done;
                }
                o[n++] = x;
            }
            Py_DECREF(fv);
        }
        Py_DECREF(fp);
    }
    if (n != cap) {
        PyErr_Format(PyExc_ValueError, "flatten: %zd floats for an output of %zd", n, cap);
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    Py_XDECREF(fr);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"flatten", flatten, METH_VARARGS,
     "flatten(link_states, out): nested float tuples into a float64 buffer, exactly filled."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_linkstate",
                                    "Fast copy of pybullet link states into an array.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__linkstate(void) { return PyModule_Create(&module); }
