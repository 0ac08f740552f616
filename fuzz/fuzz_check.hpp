#pragma once

// Invariant checks for the fuzz targets: a failed check prints what broke
// and aborts, which libFuzzer reports as a crash with the input saved.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                       \
    do {                                                                                            \
        if (!(condition)) {                                                                         \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition);  \
            std::abort();                                                                           \
        }                                                                                           \
    } while (false)
