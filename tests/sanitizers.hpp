// Which sanitizer a test binary was built with, for the few tests that cannot run under one.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define AIO_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AIO_UNDER_TSAN 1
#endif
#endif
#ifndef AIO_UNDER_TSAN
#define AIO_UNDER_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define AIO_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIO_UNDER_ASAN 1
#endif
#endif
#ifndef AIO_UNDER_ASAN
#define AIO_UNDER_ASAN 0
#endif

// TSan runs a signal's handler only when the thread the kernel picked next enters one of its
// interceptors; a process-directed signal (kill(getpid(), ...)) with several threads blocked in
// epoll_wait then sometimes never runs it (RunPerCore's signal tests hung 1 run in ~60-110 under
// TSan, all threads in epoll_wait, nothing pending in the kernel; 400 runs without TSan never did).
#define AIO_TSAN_DEFERS_SIGNALS_SKIP() \
    GTEST_SKIP() << "signal delivery to a multi-threaded process is deferred under ThreadSanitizer"
