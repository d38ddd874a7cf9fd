// Replaced global allocation functions that count per thread (see alloc_counter.hpp).
#include "alloc_counter.hpp"

#include <cstdlib>
#include <new>

// ThreadSanitizer's runtime defines the global allocation functions itself: there the counter is
// compiled out (thread_allocations() stays 0). The gcc and ASan builds prove allocation claims.
#if defined(__SANITIZE_THREAD__)
#define BULWARK_NO_ALLOC_COUNTER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BULWARK_NO_ALLOC_COUNTER 1
#endif
#endif

namespace {
thread_local std::size_t allocations = 0;
} // namespace

std::size_t bulwark::test::thread_allocations() noexcept {
    return allocations;
}

bool bulwark::test::alloc_counting_enabled() noexcept {
#ifdef BULWARK_NO_ALLOC_COUNTER
    return false;
#else
    return true;
#endif
}

#ifndef BULWARK_NO_ALLOC_COUNTER

namespace {
void* counted_alloc(std::size_t n, std::size_t align) {
    ++allocations;
    if (n == 0)
        n = 1;
    void* p = align > alignof(std::max_align_t)
                  ? std::aligned_alloc(align, (n + align - 1) / align * align)
                  : std::malloc(n);
    if (p == nullptr)
        throw std::bad_alloc{};
    return p;
}
void* counted_alloc_nothrow(std::size_t n) noexcept {
    try {
        return counted_alloc(n, 0);
    } catch (...) {
        return nullptr;
    }
}
} // namespace

void* operator new(std::size_t n) {
    return counted_alloc(n, 0);
}
void* operator new[](std::size_t n) {
    return counted_alloc(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a) {
    return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc_nothrow(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc_nothrow(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}

#endif // BULWARK_NO_ALLOC_COUNTER
