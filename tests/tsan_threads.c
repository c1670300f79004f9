/*
 * Linked into every program of a ThreadSanitizer build (XL_TSAN) only.
 *
 * Debian's librdkafka makes its threads, mutexes and condition variables
 * with C11 <threads.h>. In glibc 2.36 those call pthread internals directly,
 * past the pthread_* functions TSan intercepts, so a librdkafka thread is
 * unknown to TSan (its first malloc crashes the runtime) and librdkafka's
 * locking is invisible: what our code hands over through it (a write's job,
 * given to the producer on the loop thread and answered in the delivery
 * report on another) would look unordered. These definitions, exported by
 * the executable, take precedence over glibc's and route each C11 call to
 * its pthread_* counterpart, as glibc itself does (the C11 types are glibc's
 * pthread types). Only librdkafka calls them (execlog uses pthreads), which
 * is what tests/tsan.supp relies on. Never in a normal build.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

static int c11_result(int err)
{
    switch (err) {
    case 0:
        return thrd_success;
    case ETIMEDOUT:
        return thrd_timedout;
    case EBUSY:
        return thrd_busy;
    case ENOMEM:
        return thrd_nomem;
    default:
        return thrd_error;
    }
}

typedef struct st_start_t {
    thrd_start_t fn;
    void *arg;
} start_t;

static void *trampoline(void *p)
{
    start_t s = *(start_t *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    start_t *s = malloc(sizeof(*s));
    if (s == NULL)
        return thrd_nomem;
    s->fn = fn;
    s->arg = arg;
    int err = pthread_create((pthread_t *)thr, NULL, trampoline, s);
    if (err != 0)
        free(s);
    return c11_result(err);
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret = NULL;
    int err = pthread_join((pthread_t)thr, &ret);
    if (err == 0 && res != NULL)
        *res = (int)(intptr_t)ret;
    return c11_result(err);
}

int thrd_detach(thrd_t thr)
{
    return c11_result(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t *mtx, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int err = pthread_mutex_init((pthread_mutex_t *)mtx, &attr);
    pthread_mutexattr_destroy(&attr);
    return c11_result(err);
}

int mtx_lock(mtx_t *mtx)
{
    return c11_result(pthread_mutex_lock((pthread_mutex_t *)mtx));
}

int mtx_timedlock(mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    return c11_result(pthread_mutex_timedlock((pthread_mutex_t *)mtx, ts));
}

int mtx_trylock(mtx_t *mtx)
{
    return c11_result(pthread_mutex_trylock((pthread_mutex_t *)mtx));
}

int mtx_unlock(mtx_t *mtx)
{
    return c11_result(pthread_mutex_unlock((pthread_mutex_t *)mtx));
}

void mtx_destroy(mtx_t *mtx)
{
    pthread_mutex_destroy((pthread_mutex_t *)mtx);
}

int cnd_init(cnd_t *cond)
{
    return c11_result(pthread_cond_init((pthread_cond_t *)cond, NULL));
}

int cnd_signal(cnd_t *cond)
{
    return c11_result(pthread_cond_signal((pthread_cond_t *)cond));
}

int cnd_broadcast(cnd_t *cond)
{
    return c11_result(pthread_cond_broadcast((pthread_cond_t *)cond));
}

int cnd_wait(cnd_t *cond, mtx_t *mtx)
{
    return c11_result(pthread_cond_wait((pthread_cond_t *)cond, (pthread_mutex_t *)mtx));
}

int cnd_timedwait(cnd_t *restrict cond, mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    return c11_result(pthread_cond_timedwait((pthread_cond_t *)cond, (pthread_mutex_t *)mtx, ts));
}

void cnd_destroy(cnd_t *cond)
{
    pthread_cond_destroy((pthread_cond_t *)cond);
}
