/* Exact top-k inner-product search over an (N, D) float16 gallery with fp32 queries: one streaming pass.
 *
 * topk(gallery, queries, k, scores_out, indices_out, threads=1) -- buffers, C-contiguous: gallery (N, D) float16 ('e'),
 * queries (Q, D) float32, scores_out (Q, k) float32, indices_out (Q, k) int64; k <= N. Every row's score is the fp32
 * inner product of the row (widened exactly to fp32) with the query, accumulated in fp32; the k best per query are
 * written best first (a min-heap of k per query, so equal scores keep the earlier row). The GIL is released; with
 * threads > 1 (at most one per 4096 rows, 64 in all) each takes a contiguous share of the rows and the heaps merge.
 *
 * One query: rows are read once, in address order, each 8-half block widened with vcvtph2ps and fused-multiply-added
 * into four independent fp32 accumulators; four rows' sums are reduced together. Several queries: blocks of rows are widened once into a cache-resident
 * fp32 buffer and scored against tiles of 4 queries x 3 rows held in twelve registers.
 *
 * The AVX2/F16C/FMA code is compiled per function (target attribute), so the module builds with any x86-64 gcc or
 * clang and on other CPUs; available() says whether this CPU runs it, and topk() refuses where it does not (the
 * caller then takes its portable path). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FP16_TOPK_X86 1
#include <immintrin.h>
#include <pthread.h>
#define TARGET __attribute__((target("avx2,f16c,fma")))
#define INLINE static inline __attribute__((always_inline, target("avx2,f16c,fma")))
#endif

#define MAX_THREADS 64

/* ---- a min-heap of the k best (score, row) so far; the root is the k-th best ---- */

static void heap_init(float *hs, int64_t *hi, Py_ssize_t k) {
    for (Py_ssize_t j = 0; j < k; j++) {
        hs[j] = -INFINITY;
        hi[j] = -1;
    }
}

/* Replace the root by (s, idx) and sift it down; the caller has checked s > hs[0]. */
static void heap_replace(float *hs, int64_t *hi, Py_ssize_t k, float s, int64_t idx) {
    Py_ssize_t p = 0;
    for (;;) {
        Py_ssize_t c = 2 * p + 1;
        if (c >= k) break;
        if (c + 1 < k && (hs[c + 1] < hs[c] || (hs[c + 1] == hs[c] && hi[c + 1] > hi[c]))) c++;
        if (hs[c] > s || (hs[c] == s && hi[c] < idx)) break;
        hs[p] = hs[c];
        hi[p] = hi[c];
        p = c;
    }
    hs[p] = s;
    hi[p] = idx;
}

/* Pop the heap into scores/indices, best first (the worst is popped first, written last). */
static void heap_drain(float *hs, int64_t *hi, Py_ssize_t k, float *scores, int64_t *indices) {
    for (Py_ssize_t m = k; m > 0; m--) {
        scores[m - 1] = hs[0];
        indices[m - 1] = hi[0];
        float ls = hs[m - 1];
        int64_t li = hi[m - 1];
        hs[0] = INFINITY; /* sift the last element down from the root over the m - 1 left */
        hi[0] = -1;
        if (m > 1) heap_replace(hs, hi, m - 1, ls, li);
    }
}

#ifdef FP16_TOPK_X86

static int cpu_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

INLINE __m256 widen(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* The four horizontal sums of a, b, c, d. */
INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

TARGET static float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

/* One row's eight-lane partial sums: four independent accumulators over 32 halves a step. */
INLINE __m256 dot_row_lanes(const uint16_t *p, Py_ssize_t d8, const float *q) {
    __m256 x0 = _mm256_setzero_ps(), x1 = x0, x2 = x0, x3 = x0;
    Py_ssize_t j = 0;
    for (; j + 32 <= d8; j += 32) {
        x0 = _mm256_fmadd_ps(widen(p + j), _mm256_loadu_ps(q + j), x0);
        x1 = _mm256_fmadd_ps(widen(p + j + 8), _mm256_loadu_ps(q + j + 8), x1);
        x2 = _mm256_fmadd_ps(widen(p + j + 16), _mm256_loadu_ps(q + j + 16), x2);
        x3 = _mm256_fmadd_ps(widen(p + j + 24), _mm256_loadu_ps(q + j + 24), x3);
    }
    for (; j < d8; j += 8) x0 = _mm256_fmadd_ps(widen(p + j), _mm256_loadu_ps(q + j), x0);
    return _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
}

/* Scores of the four consecutive rows at a (D halves each) against q, into out[0..3]. The rows are walked one after
 * the other, so the addresses rise steadily and the hardware prefetcher streams them (walking the four side by side,
 * 1 KB apart, kept the prefetcher from streaming on the machine this was tuned on: compute and memory then added up). */
INLINE void dot4_rows(const uint16_t *a, Py_ssize_t d, const float *q, float *out) {
    Py_ssize_t d8 = d & ~(Py_ssize_t)7;
    __m256 r0 = dot_row_lanes(a, d8, q), r1 = dot_row_lanes(a + d, d8, q), r2 = dot_row_lanes(a + 2 * d, d8, q),
           r3 = dot_row_lanes(a + 3 * d, d8, q);
    _mm_storeu_ps(out, hsum4(r0, r1, r2, r3));
    for (Py_ssize_t j = d8; j < d; j++)
        for (int x = 0; x < 4; x++) out[x] += half_to_float(a[x * d + j]) * q[j];
}

INLINE float dot1_row(const uint16_t *a, Py_ssize_t d, const float *q) {
    __m256 a0 = _mm256_setzero_ps();
    Py_ssize_t j = 0, d8 = d & ~(Py_ssize_t)7;
    for (; j < d8; j += 8) a0 = _mm256_fmadd_ps(widen(a + j), _mm256_loadu_ps(q + j), a0);
    float s = _mm_cvtss_f32(hsum4(a0, a0, a0, a0));
    for (; j < d; j++) s += half_to_float(a[j]) * q[j];
    return s;
}

/* Rows [r0, r1) of g against q into the heap (hs, hi) of k. */
TARGET static void scan_one(const uint16_t *g, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d, const float *q, float *hs,
                            int64_t *hi, Py_ssize_t k) {
    float s[4];
    Py_ssize_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        dot4_rows(g + r * d, d, q, s);
        for (int x = 0; x < 4; x++)
            if (s[x] > hs[0]) heap_replace(hs, hi, k, s[x], r + x);
    }
    for (; r < r1; r++) {
        float v = dot1_row(g + r * d, d, q);
        if (v > hs[0]) heap_replace(hs, hi, k, v, r);
    }
}

/* Scores of NQ queries (stride dp) against NR fp32 rows (stride dp) into out[qq * 3 + rr]; dp % 8 == 0. */
INLINE void tile(const float *q, const float *rows, Py_ssize_t dp, const int NQ, const int NR, float *out) {
    __m256 acc[4][3];
    for (int a = 0; a < NQ; a++)
        for (int b = 0; b < NR; b++) acc[a][b] = _mm256_setzero_ps();
    for (Py_ssize_t j = 0; j < dp; j += 8) {
        __m256 rv[3];
        for (int b = 0; b < NR; b++) rv[b] = _mm256_loadu_ps(rows + b * dp + j);
        for (int a = 0; a < NQ; a++) {
            __m256 qv = _mm256_loadu_ps(q + a * dp + j);
            for (int b = 0; b < NR; b++) acc[a][b] = _mm256_fmadd_ps(rv[b], qv, acc[a][b]);
        }
    }
    __m256 z = _mm256_setzero_ps();
    for (int a = 0; a < NQ; a++) {
        float s4[4];
        _mm_storeu_ps(s4, hsum4(acc[a][0], NR > 1 ? acc[a][1] : z, NR > 2 ? acc[a][2] : z, z));
        for (int b = 0; b < NR; b++) out[a * 3 + b] = s4[b];
    }
}

#define ROW_BLOCK 64

TARGET static void tile_any(const float *q, const float *rows, Py_ssize_t dp, int nq, int nr, float *out) {
    switch (nq * 4 + nr) {
#define CASE(A, B) \
    case A * 4 + B: tile(q, rows, dp, A, B, out); break;
        CASE(1, 1) CASE(1, 2) CASE(1, 3) CASE(2, 1) CASE(2, 2) CASE(2, 3)
        CASE(3, 1) CASE(3, 2) CASE(3, 3) CASE(4, 1) CASE(4, 2) CASE(4, 3)
#undef CASE
    }
}

/* Rows [lo, hi) of g against the nq queries qp (zero-padded to dp) into their heaps; buf holds ROW_BLOCK x dp. */
TARGET static void scan_many(const uint16_t *g, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t d, const float *qp,
                             Py_ssize_t nq, Py_ssize_t dp, float *buf, float *hs, int64_t *hx, Py_ssize_t k) {
    Py_ssize_t d8 = d & ~(Py_ssize_t)7;
    float s[12];
    for (Py_ssize_t r0 = lo; r0 < hi; r0 += ROW_BLOCK) {
        Py_ssize_t nr = hi - r0 < ROW_BLOCK ? hi - r0 : ROW_BLOCK;
        for (Py_ssize_t r = 0; r < nr; r++) { /* widen the block once; the zero padding adds nothing */
            const uint16_t *src = g + (r0 + r) * d;
            float *dst = buf + r * dp;
            Py_ssize_t j = 0;
            for (; j < d8; j += 8) _mm256_storeu_ps(dst + j, widen(src + j));
            for (; j < d; j++) dst[j] = half_to_float(src[j]);
            for (; j < dp; j++) dst[j] = 0.0f;
        }
        for (Py_ssize_t q0 = 0; q0 < nq; q0 += 4) {
            int tq = nq - q0 < 4 ? (int)(nq - q0) : 4;
            for (Py_ssize_t r = 0; r < nr; r += 3) {
                int tr = nr - r < 3 ? (int)(nr - r) : 3;
                tile_any(qp + q0 * dp, buf + r * dp, dp, tq, tr, s);
                for (int a = 0; a < tq; a++) {
                    float *h = hs + (q0 + a) * k;
                    for (int b = 0; b < tr; b++)
                        if (s[a * 3 + b] > h[0]) heap_replace(h, hx + (q0 + a) * k, k, s[a * 3 + b], r0 + r + b);
                }
            }
        }
    }
}

/* One thread's share: rows [lo, hi) for every query, into its own nq heaps of k (hs, hx), own block buffer. */
typedef struct {
    const uint16_t *g;
    const float *q;  /* (nq, d) as given */
    const float *qp; /* (nq, dp) zero-padded */
    Py_ssize_t lo, hi, d, dp, nq, k;
    float *hs, *buf;
    int64_t *hx;
} Part;

static void *run_part(void *arg) {
    Part *p = arg;
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr & ~0x8040u); /* no flush-to-zero / denormals-are-zero: fp32 results as IEEE defines them */
    for (Py_ssize_t a = 0; a < p->nq; a++) heap_init(p->hs + a * p->k, p->hx + a * p->k, p->k);
    if (p->nq == 1)
        scan_one(p->g, p->lo, p->hi, p->d, p->q, p->hs, p->hx, p->k);
    else
        scan_many(p->g, p->lo, p->hi, p->d, p->qp, p->nq, p->dp, p->buf, p->hs, p->hx, p->k);
    _mm_setcsr(csr);
    return NULL;
}

/* Score on `threads` threads (contiguous row ranges; the calling thread takes the first), then merge per query. */
static int search(const uint16_t *g, Py_ssize_t n, Py_ssize_t d, const float *q, Py_ssize_t nq, Py_ssize_t k,
                  int threads, float *scores, int64_t *indices) {
    Py_ssize_t dp = (d + 7) & ~(Py_ssize_t)7;
    if (threads > n / 4096 + 1) threads = (int)(n / 4096 + 1); /* a thread per 4096 rows at least */
    Part parts[MAX_THREADS];
    float *hs = PyMem_RawMalloc(sizeof(float) * threads * nq * k);
    int64_t *hx = PyMem_RawMalloc(sizeof(int64_t) * threads * nq * k);
    float *qp = PyMem_RawCalloc((size_t)(nq * dp), sizeof(float));
    float *buf = PyMem_RawMalloc(sizeof(float) * threads * ROW_BLOCK * dp);
    int ok = hs && hx && qp && buf;
    if (ok) {
        for (Py_ssize_t a = 0; a < nq; a++) memcpy(qp + a * dp, q + a * d, sizeof(float) * d);
        for (int t = 0; t < threads; t++) {
            Py_ssize_t lo = n * t / threads, hi = n * (t + 1) / threads;
            parts[t] = (Part){g, q, qp, lo, hi, d, dp, nq, k, hs + t * nq * k, buf + t * ROW_BLOCK * dp,
                              hx + t * nq * k};
        }
        pthread_t tid[MAX_THREADS];
        int started = 1;
        for (; started < threads; started++)
            if (pthread_create(&tid[started], NULL, run_part, &parts[started]) != 0) break;
        for (int t = started; t < threads; t++) run_part(&parts[t]); /* a thread that did not start: run it here */
        run_part(&parts[0]);
        for (int t = 1; t < started; t++) pthread_join(tid[t], NULL);
        for (Py_ssize_t a = 0; a < nq; a++) { /* merge the other threads' heaps into the first's */
            float *h0 = hs + a * k;
            int64_t *x0 = hx + a * k;
            for (int t = 1; t < threads; t++)
                for (Py_ssize_t j = 0; j < k; j++) {
                    float v = hs[(t * nq + a) * k + j];
                    int64_t x = hx[(t * nq + a) * k + j];
                    if (x >= 0 && (v > h0[0] || (v == h0[0] && x < x0[0]))) heap_replace(h0, x0, k, v, x);
                }
            heap_drain(h0, x0, k, scores + a * k, indices + a * k);
        }
    }
    PyMem_RawFree(hs), PyMem_RawFree(hx), PyMem_RawFree(qp), PyMem_RawFree(buf);
    return ok;
}

#else
static int cpu_ok(void) { return 0; }
#endif

/* ---- Python ---- */

static int get2d(PyObject *obj, Py_buffer *view, const char *name, const char *formats, Py_ssize_t itemsize,
                 int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (view->ndim != 2 || view->itemsize != itemsize || strlen(f) != 1 || !strchr(formats, *f)) {
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous 2-d buffer of format '%s' (got ndim %d, format '%s')",
                     name, formats, view->ndim, view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *py_available(PyObject *self, PyObject *noargs) { return PyBool_FromLong(cpu_ok()); }

static PyObject *py_topk(PyObject *self, PyObject *args) {
    PyObject *og, *oq, *os, *oi;
    Py_ssize_t k;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOnOO|i", &og, &oq, &k, &os, &oi, &threads)) return NULL;
    if (!cpu_ok()) {
        PyErr_SetString(PyExc_RuntimeError, "this CPU lacks AVX2, F16C or FMA (or this build is not x86-64)");
        return NULL;
    }
    Py_buffer g, q, s, ix;
    if (get2d(og, &g, "gallery", "e", 2, 0) < 0) return NULL;
    if (get2d(oq, &q, "queries", "f", 4, 0) < 0) goto fail_g;
    if (get2d(os, &s, "scores_out", "f", 4, 1) < 0) goto fail_q;
    if (get2d(oi, &ix, "indices_out", "lq", 8, 1) < 0) goto fail_s;
    Py_ssize_t n = g.shape[0], d = g.shape[1], nq = q.shape[0];
    if (q.shape[1] != d || nq < 1 || k < 1 || k > n || s.shape[0] != nq || s.shape[1] != k || ix.shape[0] != nq ||
        ix.shape[1] != k) {
        PyErr_Format(PyExc_ValueError, "shapes: gallery (%zd, %zd), queries (%zd, %zd), k %zd, outputs (%zd, %zd), "
                     "(%zd, %zd)", n, d, nq, q.shape[1], k, s.shape[0], s.shape[1], ix.shape[0], ix.shape[1]);
        goto fail_i;
    }
    if (threads < 1) {
        PyErr_Format(PyExc_ValueError, "threads must be at least 1, got %d", threads);
        goto fail_i;
    }
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    int ok = 0;
#ifdef FP16_TOPK_X86
    Py_BEGIN_ALLOW_THREADS;
    ok = search(g.buf, n, d, q.buf, nq, k, threads, s.buf, ix.buf);
    Py_END_ALLOW_THREADS;
#endif
    if (!ok) {
        PyErr_NoMemory();
        goto fail_i;
    }
    PyBuffer_Release(&ix), PyBuffer_Release(&s), PyBuffer_Release(&q), PyBuffer_Release(&g);
    Py_RETURN_NONE;
fail_i:
    PyBuffer_Release(&ix);
fail_s:
    PyBuffer_Release(&s);
fail_q:
    PyBuffer_Release(&q);
fail_g:
    PyBuffer_Release(&g);
    return NULL;
}

static PyMethodDef methods[] = {
    {"available", py_available, METH_NOARGS, "available() -> bool: this CPU runs the AVX2/F16C/FMA kernel."},
    {"topk", py_topk, METH_VARARGS,
     "topk(gallery, queries, k, scores_out, indices_out, threads=1): exact top-k inner products, best first."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fp16_topk",
                                    "Exact fp16 top-k inner-product search (AVX2 + F16C + FMA).", -1, methods};

PyMODINIT_FUNC PyInit__fp16_topk(void) { return PyModule_Create(&module); }
