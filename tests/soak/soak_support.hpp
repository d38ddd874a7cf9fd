#pragma once
// Shared by the soak tests: how long each component runs, the memory figures (peak RSS from
// /proc/self/status, live heap bytes from the allocator), and a watchdog that fails the run when
// a component stops making progress (a deadlock or a lost wake-up).
//
//   BULWARK_SOAK_MS   milliseconds per component (default 2000)

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#if defined(__has_include)
#if __has_include(<sanitizer/allocator_interface.h>) &&                                           \
    (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#include <sanitizer/allocator_interface.h>
#define BULWARK_SOAK_SANITIZER_HEAP 1
#endif
#endif
#if defined(__clang__) && defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#include <sanitizer/allocator_interface.h>
#ifndef BULWARK_SOAK_SANITIZER_HEAP
#define BULWARK_SOAK_SANITIZER_HEAP 1
#endif
#endif
#endif
#ifndef BULWARK_SOAK_SANITIZER_HEAP
#include <malloc.h>
#endif

namespace soak {

inline std::chrono::milliseconds run_time() {
    const char* v = std::getenv("BULWARK_SOAK_MS");
    return std::chrono::milliseconds{v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10)
                                                                : 2000};
}

/// A field of /proc/self/status in kB (VmHWM: peak RSS, VmRSS: current), 0 if unreadable.
inline long status_kb(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::string key = std::string(field) + ":";
    while (std::getline(in, line))
        if (line.rfind(key, 0) == 0)
            return std::strtol(line.c_str() + key.size(), nullptr, 10);
    return 0;
}

/// Bytes the program holds on the heap now (freed memory excluded, also under ASan, whose
/// quarantine would make RSS grow).
inline std::size_t live_heap() {
#ifdef BULWARK_SOAK_SANITIZER_HEAP
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

/// Fails the process (a test that deadlocked cannot fail any other way) when `progress` has
/// not moved for `limit` — generous, so only a hang trips it, never a slow machine.
class watchdog {
public:
    watchdog(const char* name, const std::atomic<std::uint64_t>& progress,
             std::chrono::seconds limit = std::chrono::seconds{60})
        : thread_([this, name, &progress, limit] {
            auto last = progress.load();
            auto since = std::chrono::steady_clock::now();
            while (!stop_.load()) {
                std::this_thread::sleep_for(std::chrono::milliseconds{50});
                const auto now_value = progress.load();
                const auto now = std::chrono::steady_clock::now();
                if (now_value != last) {
                    last = now_value;
                    since = now;
                } else if (now - since > limit) {
                    std::fprintf(stderr,
                                 "\nsoak watchdog [%s]: no progress for %lld s (stuck at %llu): "
                                 "deadlock or lost wake-up\n",
                                 name, static_cast<long long>(limit.count()),
                                 static_cast<unsigned long long>(now_value));
                    std::abort();
                }
            }
        }) {}
    ~watchdog() {
        stop_.store(true);
        thread_.join();
    }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// Live heap after the warm-up and at the end: the growth in between must stay small.
struct heap_probe {
    std::size_t warm = 0, end = 0;
    long peak_rss_kb = 0;
    void warmed() { warm = live_heap(); }
    void finished() {
        end = live_heap();
        peak_rss_kb = status_kb("VmHWM");
    }
    long long growth() const { return static_cast<long long>(end) - static_cast<long long>(warm); }
    std::string describe() const {
        return "live heap " + std::to_string(warm / 1024) + " kB after warm-up, " +
               std::to_string(end / 1024) + " kB at the end (growth " +
               std::to_string(growth() / 1024) + " kB), peak RSS (VmHWM) " +
               std::to_string(peak_rss_kb) + " kB";
    }
};

/// Runs `f(thread_index)` in a loop on `threads` threads for `time` (the soak is bounded in
/// time, not in work: a slow machine does less, never fails for it), and takes the heap's
/// warm-up reading a quarter of the way in.
template <class F>
void run_for(std::chrono::milliseconds time, int threads, heap_probe& heap, F f) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i)
        pool.emplace_back([&, i] {
            while (!stop.load(std::memory_order_relaxed))
                f(i);
        });
    std::this_thread::sleep_for(time / 4);
    heap.warmed();
    std::this_thread::sleep_for(time - time / 4);
    stop.store(true);
    for (auto& t : pool)
        t.join();
}

/// The bound on heap growth after the warm-up: generous against allocator noise, far below
/// what a leak per call or per message would add over a soak.
inline constexpr long long max_growth = 4ll << 20;

} // namespace soak
