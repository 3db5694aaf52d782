/* Compiled per-step kernels of the imitation environment: PD targets from actions, and the
 * heading frame, DeepMimic reward and DM-2019 observation of K characters in one call.
 *
 * Why C: after the physics, one control step of one character is ~100 small numpy calls
 * (reward.py, observation.py, action.py), and numpy's per-call cost, not arithmetic, bounds them:
 * ~200 us per character-step with the caches cold from the physics, against ~530 us for the
 * physics itself. These loops do the same arithmetic in ~3 us. The numpy modules stay the
 * readable reference: tests/test_kernels.py checks that both give the same numbers on real
 * states, and the environment falls back to numpy when this module is not built
 * (MIMIC_NUMPY_KERNELS=1 forces that).
 *
 * Plain CPython API and the buffer protocol (no numpy headers): every array argument must be
 * C-contiguous float64 (observations: float32) of the size checked below.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define NCOL 27 /* floats per link state row; the column offsets below are mimic/sim/link_state.py's */

static int check_len(Py_buffer *b, Py_ssize_t n, Py_ssize_t itemsize, const char *name)
{
    if (b->len != n * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes, got %zd bytes",
                     name, n, itemsize, b->len);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * pd_targets(actions, low, high, layout) -> list (per character) of lists (per actuated joint)
 *
 * actions [K, A] float64; low, high [A] float64; layout int32 [2 * n]: per actuated joint
 * (kind, column) with kind 1 = ball ([angle, axis x, y, z] at column..column+3 -> xyzw
 * quaternion), 0 = hinge ([angle] at column). Mirrors ActionMap.to_targets.
 */
static PyObject *pd_targets(PyObject *self, PyObject *args)
{
    Py_buffer act, lo, hi, lay;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &act, &lo, &hi, &lay))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t A = lo.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t n = lay.len / (Py_ssize_t)(2 * sizeof(int));
    if (A == 0 || act.len % (A * (Py_ssize_t)sizeof(double)) != 0
        || check_len(&hi, A, sizeof(double), "high") < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "actions: size is not a multiple of the action size");
        goto done;
    }
    Py_ssize_t K = act.len / (A * (Py_ssize_t)sizeof(double));
    const double *a = act.buf, *l = lo.buf, *h = hi.buf;
    const int *L = lay.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int col = L[2 * i + 1], width = L[2 * i] ? 4 : 1;
        if (col < 0 || col + width > A) {
            PyErr_Format(PyExc_ValueError, "layout: joint %zd reads past the action", i);
            goto done;
        }
    }
    out = PyList_New(K);
    if (!out)
        goto done;
    for (Py_ssize_t k = 0; k < K; k++) {
        const double *ak = a + k * A;
        PyObject *joints = PyList_New(n);
        if (!joints)
            goto fail;
        PyList_SET_ITEM(out, k, joints);
        for (Py_ssize_t i = 0; i < n; i++) {
            int c = L[2 * i + 1];
            PyObject *t;
            if (L[2 * i]) {
                double v[4];
                for (int m = 0; m < 4; m++) {
                    double x = ak[c + m];
                    v[m] = x < l[c + m] ? l[c + m] : (x > h[c + m] ? h[c + m] : x);
                }
                double nrm = sqrt(v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
                double ax = v[1], ay = v[2], az = v[3];
                if (nrm < 1e-8) { /* DeepMimic uses +z for a zero axis */
                    ax = 0.0; ay = 0.0; az = 1.0; nrm = 1.0;
                }
                double sh = sin(0.5 * v[0]) / nrm;
                t = Py_BuildValue("[dddd]", ax * sh, ay * sh, az * sh, cos(0.5 * v[0]));
            } else {
                double x = ak[c];
                x = x < l[c] ? l[c] : (x > h[c] ? h[c] : x);
                t = Py_BuildValue("[d]", x);
            }
            if (!t)
                goto fail;
            PyList_SET_ITEM(joints, i, t);
        }
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyBuffer_Release(&act);
    PyBuffer_Release(&lo);
    PyBuffer_Release(&hi);
    PyBuffer_Release(&lay);
    return out;
}

/* ------------------------------------------------------------------------------------------
 * Quaternion helpers, xyzw.
 */
static inline void quat_conj_mul(const double *a, const double *b, double *o)
{ /* conj(a) * b */
    double ax = -a[0], ay = -a[1], az = -a[2], aw = a[3];
    o[0] = aw * b[0] + ax * b[3] + ay * b[2] - az * b[1];
    o[1] = aw * b[1] - ax * b[2] + ay * b[3] + az * b[0];
    o[2] = aw * b[2] + ax * b[1] - ay * b[0] + az * b[3];
    o[3] = aw * b[3] - ax * b[0] - ay * b[1] - az * b[2];
}

static inline void quat_matrix(const double *q, double *R)
{ /* row-major R with v_world = R v_local */
    double x = q[0], y = q[1], z = q[2], w = q[3];
    R[0] = 1 - 2 * (y * y + z * z); R[1] = 2 * (x * y - z * w);     R[2] = 2 * (x * z + y * w);
    R[3] = 2 * (x * y + z * w);     R[4] = 1 - 2 * (x * x + z * z); R[5] = 2 * (y * z - x * w);
    R[6] = 2 * (x * z - y * w);     R[7] = 2 * (y * z + x * w);     R[8] = 1 - 2 * (x * x + y * y);
}

/* Heading removal of root rotation q: cos/sin of -heading (R_h = rot_y(-h)) and the half-angle
 * cos/sin of q_h = (0, hs, 0, hc). Mirrors rotations.heading_frames. */
static inline void heading(const double *q, double *c, double *s, double *hc, double *hs)
{
    double x = q[0], y = q[1], z = q[2], w = q[3];
    double dx = 1.0 - 2.0 * (y * y + z * z), dz = 2.0 * (x * z - w * y);
    double n = sqrt(dx * dx + dz * dz);
    if (n < 1e-12) {
        *c = 1.0; *s = 0.0;
    } else {
        *c = dx / n; *s = dz / n;
    }
    *hc = sqrt(0.5 + 0.5 * *c);
    *hs = *hc < 1e-9 ? 1.0 : *s / (2.0 * *hc);
}

/* R_h v for R_h = [[c, 0, s], [0, 1, 0], [-s, 0, c]] */
static inline void rot_h(double c, double s, const double *v, float *o)
{
    o[0] = (float)(c * v[0] + s * v[2]);
    o[1] = (float)v[1];
    o[2] = (float)(-s * v[0] + c * v[2]);
}

/* ------------------------------------------------------------------------------------------
 * imitation(S_ext, ref, ref_root, phase, iparams, dparams, obs, terms, reward)
 *
 * S_ext [K, J + 1, 27]: link states with the world row J (see SimCharacter.state_ext).
 * ref [K, R]: ReferenceBatch.buf; ref_root [K, 3]; phase [K].
 * iparams int32: J, n_ee, R, offsets of local_rot, local_ang_vel, root_lin_vel, ee_rel, com_vel
 *   in a ref row, then parent_ext [J] (the root's parent is J), then ee [n_ee].
 * dparams float64: joint_w [J], mass_frac [J], root_com_offset [3], weights [5], scales [5].
 * Outputs: obs float32 [K, 2 + 13 J], terms [K, 5], reward [K].
 * Mirrors ImitationReward.__call__ and ObservationBuilder.__call__ with heading_frames.
 */
static PyObject *imitation(PyObject *self, PyObject *args)
{
    Py_buffer Sb, refb, rrb, phb, ipb, dpb, ob, tb, rb;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*w*w*", &Sb, &refb, &rrb, &phb, &ipb, &dpb, &ob,
                          &tb, &rb))
        return NULL;
    PyObject *result = NULL;
    const int *ip = ipb.buf;
    Py_ssize_t nip = ipb.len / (Py_ssize_t)sizeof(int);
    if (nip < 8) {
        PyErr_SetString(PyExc_ValueError, "iparams: too short");
        goto done;
    }
    int J = ip[0], E = ip[1], R = ip[2];
    int o_rot = ip[3], o_angv = ip[4], o_linv = ip[5], o_ee = ip[6], o_com = ip[7];
    const int *parent = ip + 8, *ee = ip + 8 + J;
    Py_ssize_t K = phb.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t D = 2 + 13 * (Py_ssize_t)J;
    if (check_len(&ipb, 8 + J + E, sizeof(int), "iparams") < 0
        || check_len(&dpb, 2 * J + 13, sizeof(double), "dparams") < 0
        || check_len(&Sb, K * (J + 1) * NCOL, sizeof(double), "S_ext") < 0
        || check_len(&refb, K * R, sizeof(double), "ref") < 0
        || check_len(&rrb, K * 3, sizeof(double), "ref_root") < 0
        || check_len(&ob, K * D, sizeof(float), "obs") < 0
        || check_len(&tb, K * 5, sizeof(double), "terms") < 0
        || check_len(&rb, K, sizeof(double), "reward") < 0)
        goto done;
    if (o_rot + 4 * J > R || o_angv + 3 * J > R || o_linv + 3 > R || o_ee + 3 * E > R
        || o_com + 3 > R) {
        PyErr_SetString(PyExc_ValueError, "iparams: reference offsets past the row");
        goto done;
    }
    for (int j = 0; j < J; j++)
        if (parent[j] < 0 || parent[j] > J) {
            PyErr_Format(PyExc_ValueError, "iparams: parent of joint %d out of range", j);
            goto done;
        }
    for (int e = 0; e < E; e++)
        if (ee[e] < 0 || ee[e] >= J) {
            PyErr_Format(PyExc_ValueError, "iparams: end effector %d out of range", e);
            goto done;
        }
    const double *dp = dpb.buf;
    const double *joint_w = dp, *mass_frac = dp + J, *com_off = dp + 2 * J;
    const double *weights = dp + 2 * J + 3, *scales = dp + 2 * J + 8;

    for (Py_ssize_t k = 0; k < K; k++) {
        const double *S = (const double *)Sb.buf + k * (J + 1) * NCOL;
        const double *ref = (const double *)refb.buf + k * R;
        const double *ref_root = (const double *)rrb.buf + 3 * k;
        float *obs = (float *)ob.buf + k * D;
        double *terms = (double *)tb.buf + 5 * k;
        const double *root = S + 14;         /* root joint position */
        double c, s, hc, hs;
        heading(S + 17, &c, &s, &hc, &hs);

        /* observation */
        obs[0] = (float)((const double *)phb.buf)[k];
        obs[1] = (float)root[1];
        float *pose = obs + 2, *vel = obs + 2 + 7 * J;
        for (int j = 0; j < J; j++) {
            const double *Sj = S + j * NCOL;
            double d[3] = {Sj[0] - root[0], Sj[1] - root[1], Sj[2] - root[2]};
            float *pj = pose + 7 * j;
            rot_h(c, s, d, pj);
            double qw, qx, qy, qz;
            const double *q = Sj + 3;
            if (j == 0) { /* world root rotation */
                qx = q[0]; qy = q[1]; qz = q[2]; qw = q[3];
            } else {      /* q_h * q */
                qw = hc * q[3] - hs * q[1];
                qx = hc * q[0] + hs * q[2];
                qy = hc * q[1] + hs * q[3];
                qz = hc * q[2] - hs * q[0];
            }
            if (qw < 0.0) {
                qw = -qw; qx = -qx; qy = -qy; qz = -qz;
            }
            pj[3] = (float)qw; pj[4] = (float)qx; pj[5] = (float)qy; pj[6] = (float)qz;
            float *vj = vel + 6 * j;
            if (j == 0) {
                for (int m = 0; m < 6; m++)
                    vj[m] = (float)Sj[21 + m];
            } else {
                rot_h(c, s, Sj + 21, vj);
                rot_h(c, s, Sj + 24, vj + 3);
            }
        }

        /* reward errors */
        double err[5] = {0, 0, 0, 0, 0}, ang_root2 = 0.0, Rroot[9];
        double com_v[3] = {0, 0, 0};
        for (int j = 0; j < J; j++) {
            const double *Sj = S + j * NCOL, *Pj = S + parent[j] * NCOL;
            double lq[4];
            quat_conj_mul(Pj + 17, Sj + 17, lq);
            const double *rq = ref + o_rot + 4 * j;
            double ch = fabs(lq[0] * rq[0] + lq[1] * rq[1] + lq[2] * rq[2] + lq[3] * rq[3]);
            double ang = 2.0 * acos(ch < 1.0 ? ch : 1.0);
            err[0] += joint_w[j] * ang * ang;
            if (j == 0)
                ang_root2 = ang * ang;
            double Rm[9], lw[3];
            quat_matrix(Sj + 17, Rm);
            if (j == 0) {
                memcpy(Rroot, Rm, sizeof Rm);
                lw[0] = Sj[24]; lw[1] = Sj[25]; lw[2] = Sj[26];
            } else { /* R^T (w - w_parent) */
                double r0 = Sj[24] - Pj[24], r1 = Sj[25] - Pj[25], r2 = Sj[26] - Pj[26];
                lw[0] = Rm[0] * r0 + Rm[3] * r1 + Rm[6] * r2;
                lw[1] = Rm[1] * r0 + Rm[4] * r1 + Rm[7] * r2;
                lw[2] = Rm[2] * r0 + Rm[5] * r1 + Rm[8] * r2;
            }
            const double *rw = ref + o_angv + 3 * j;
            double d0 = lw[0] - rw[0], d1 = lw[1] - rw[1], d2 = lw[2] - rw[2];
            err[1] += joint_w[j] * (d0 * d0 + d1 * d1 + d2 * d2);
            for (int m = 0; m < 3; m++)
                com_v[m] += mass_frac[j] * Sj[21 + m];
        }
        for (int e = 0; e < E; e++) {
            const double *x = S + ee[e] * NCOL + 14;
            double d[3] = {x[0] - root[0], x[1], x[2] - root[2]};
            const double *re = ref + o_ee + 3 * e;
            double e0 = c * d[0] + s * d[2] - re[0];
            double e1 = d[1] - re[1];
            double e2 = -s * d[0] + c * d[2] - re[2];
            err[2] += e0 * e0 + e1 * e1 + e2 * e2;
        }
        {
            const double *w0 = S + 24, *rlv = ref + o_linv, *rav = ref + o_angv;
            const double *rcv = ref + o_com;
            double arm[3];
            for (int m = 0; m < 3; m++)
                arm[m] = Rroot[3 * m] * com_off[0] + Rroot[3 * m + 1] * com_off[1]
                         + Rroot[3 * m + 2] * com_off[2];
            double wxa[3] = {w0[1] * arm[2] - w0[2] * arm[1], w0[2] * arm[0] - w0[0] * arm[2],
                             w0[0] * arm[1] - w0[1] * arm[0]};
            double sp = 0, sv = 0, sw = 0, sc = 0;
            for (int m = 0; m < 3; m++) {
                double dp_ = root[m] - ref_root[m];
                double dv = S[21 + m] - wxa[m] - rlv[m];
                double dw = w0[m] - rav[m];
                double dc = com_v[m] - rcv[m];
                sp += dp_ * dp_; sv += dv * dv; sw += dw * dw; sc += dc * dc;
            }
            err[3] = sp + 0.01 * sv + 0.001 * sw + 0.1 * ang_root2;
            err[4] = 0.1 * sc;
        }
        double total = 0.0;
        for (int m = 0; m < 5; m++) {
            terms[m] = weights[m] * exp(-scales[m] * err[m]);
            total += terms[m];
        }
        ((double *)rb.buf)[k] = total;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&Sb);
    PyBuffer_Release(&refb);
    PyBuffer_Release(&rrb);
    PyBuffer_Release(&phb);
    PyBuffer_Release(&ipb);
    PyBuffer_Release(&dpb);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&rb);
    return result;
}

static PyMethodDef methods[] = {
    {"pd_targets", pd_targets, METH_VARARGS,
     "pd_targets(actions, low, high, layout) -> per character, the stable-PD target lists."},
    {"imitation", imitation, METH_VARARGS,
     "imitation(S_ext, ref, ref_root, phase, iparams, dparams, obs, terms, reward): heading, "
     "observation and reward of K characters, written into obs, terms and reward."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "Compiled per-step kernels of the imitation environment.",
                                    -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
