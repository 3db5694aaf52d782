/* sample(rows, frame_times, dts, k, duration, loop, quat_offset, num_quats, times, out, cycles,
 *        phase): ReferenceBatch.sample's lookup in one call.
 *
 * For each time: the completed cycles and the phase, the grid row pair around it, their linear
 * blend into out[k], and the blended quaternions renormalised. Same steps and rounding as the
 * numpy code in reference.py (floor division as Python/numpy define it).
 *
 * Why C: it runs every control step; the numpy version is ~15 small calls (~10 us for one
 * character, more with the caches cold from the physics), this ~1 us.
 * rows [N, R], frame_times [F], dts [F] float64; times, phase [K] float64; out [K, R] float64;
 * cycles [K] int64. The past-the-end hold of non-looping clips stays in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* Python's float floor division (Objects/floatobject.c float_divmod) */
static double floordiv(double vx, double wx)
{
    double mod = fmod(vx, wx), div = (vx - mod) / wx, fd;
    if (mod) {
        if ((wx < 0) != (mod < 0))
            div -= 1.0;
    }
    if (div) {
        fd = floor(div);
        if (div - fd > 0.5)
            fd += 1.0;
    } else {
        fd = copysign(0.0, vx / wx);
    }
    return fd;
}

static PyObject *sample(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer rb, fb, db, tb, ob, cb, pb;
    long kk;
    double T;
    int loop, qoff, nq;
    if (!PyArg_ParseTuple(args, "y*y*y*ldpiiy*w*w*w*", &rb, &fb, &db, &kk, &T, &loop, &qoff, &nq,
                          &tb, &ob, &cb, &pb))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t K = tb.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t F = fb.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t R = K ? ob.len / (Py_ssize_t)sizeof(double) / K : 0;
    Py_ssize_t N = R ? rb.len / (Py_ssize_t)sizeof(double) / R : 0;
    if (K == 0 || R == 0 || ob.len != K * R * (Py_ssize_t)sizeof(double)
        || rb.len != N * R * (Py_ssize_t)sizeof(double) || db.len != fb.len || F < 2
        || cb.len != K * (Py_ssize_t)sizeof(int64_t) || pb.len != tb.len || kk < 1
        || qoff < 0 || nq < 0 || qoff + 4 * nq > R || !(T > 0)) {
        PyErr_SetString(PyExc_ValueError, "reference sample: inconsistent array sizes");
        goto done;
    }
    const double *rows = rb.buf, *ft = fb.buf, *dts = db.buf, *times = tb.buf;
    double *out = ob.buf, *phase = pb.buf;
    int64_t *cycles = cb.buf;
    for (Py_ssize_t k = 0; k < K; k++) {
        double t = times[k], tc;
        if (loop) {
            double c = floordiv(t, T);
            cycles[k] = (int64_t)c;
            tc = t - (double)cycles[k] * T;
            phase[k] = tc / T;
        } else {
            cycles[k] = 0;
            tc = t < 0.0 ? 0.0 : (t > T ? T : t);
            phase[k] = tc / T;
            if (phase[k] > 1.0)
                phase[k] = 1.0;
        }
        /* last frame time <= tc (bisect_right - 1), clamped to [0, F - 2] */
        Py_ssize_t lo = 0, hi = F;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            if (tc < ft[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        Py_ssize_t f = lo - 1;
        if (f < 0)
            f = 0;
        if (f > F - 2)
            f = F - 2;
        double g = (tc - ft[f]) / dts[f] * (double)kk;
        int64_t s = (int64_t)g;
        if (s > kk - 1)
            s = kk - 1;
        double b = g - (double)s;
        Py_ssize_t i = (Py_ssize_t)f * kk + s;
        if (i < 0 || i + 1 >= N) {
            char tbuf[32];       /* PyErr_Format has no %g: format the time with C's */
            PyOS_snprintf(tbuf, sizeof tbuf, "%.9g", t);
            PyErr_Format(PyExc_ValueError, "reference sample: time %s falls outside the table", tbuf);
            goto done;
        }
        const double *r0 = rows + i * R, *r1 = r0 + R;
        double *o = out + k * R;
        for (Py_ssize_t m = 0; m < R; m++)
            o[m] = (r1[m] - r0[m]) * b + r0[m];
        double *q = o + qoff;
        for (int j = 0; j < nq; j++, q += 4) {
            double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
            q[0] /= n; q[1] /= n; q[2] /= n; q[3] /= n;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&rb);
    PyBuffer_Release(&fb);
    PyBuffer_Release(&db);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&cb);
    PyBuffer_Release(&pb);
    return result;
}

static PyMethodDef methods[] = {
    {"sample", sample, METH_VARARGS,
     "sample(rows, frame_times, dts, k, duration, loop, quat_offset, num_quats, times, out, "
     "cycles, phase): blend the reference grid rows for each time into out."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_reference",
                                    "Compiled lookup of the precomputed reference table.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__reference(void) { return PyModule_Create(&module); }
