#pragma once
// Counts heap allocations made by this thread, through a replaced global operator new
// (alloc_counter.cpp, linked into every test binary).
//
//   bulwark::test::alloc_scope scope;
//   ... code under test ...
//   REQUIRE(scope.count() == 0);

#include <cstddef>

namespace bulwark::test {

/// Allocations made by the calling thread since it started.
std::size_t thread_allocations() noexcept;

/// False under ThreadSanitizer, whose runtime owns operator new (counts then stay 0).
bool alloc_counting_enabled() noexcept;

/// Counts the allocations of this thread within its lifetime.
class alloc_scope {
public:
    alloc_scope() noexcept
        : start_(thread_allocations()) {}
    std::size_t count() const noexcept { return thread_allocations() - start_; }

private:
    std::size_t start_;
};

} // namespace bulwark::test
