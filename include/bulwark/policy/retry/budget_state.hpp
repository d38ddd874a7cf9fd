#pragma once
/// \file
/// The lock-free cores behind the retry budgets of <bulwark/policy/retry/budget.hpp>.

#include <bulwark/detail/coarse_clock.hpp>
#include <bulwark/runtime/any_clock.hpp>
#include <bulwark/runtime/call_time.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>

namespace bulwark::detail {

/// Finagle `RetryBudget` / tower `TpsBudget`: a token bucket whose deposits expire after `ttl`.
///
/// Units are thousandths of a deposit so that any ratio in [0, 1] is exact to 0.1 ‰ (tower
/// truncates `1/ratio` to an integer: 0.3 would give 33 %). Each of the 10 slots covers
/// `ttl/10` and holds one word: the slot's epoch (low 32 bits of the window number) and its signed
/// balance (32 bits, saturating), so a stale slot is recognised and restarted with one CAS — no
/// lock, no background thread. The epoch of the last write is kept in full beside the slots: after
/// an idle time of a whole ttl every slot is stale whatever its 32-bit tag says (a 16-bit tag let
/// expired deposits count again after 2^16 idle windows). A tag aliases only after 2^32 windows
/// (13 years at a 1 s ttl) during which that slot was never written while others were.
class tps_budget_state {
public:
    static constexpr int slots = 10;

    tps_budget_state(duration ttl, double min_per_second, double ratio, any_clock clock)
        : window_(ttl / slots)
        , clock_(std::move(clock)) {
        if (ratio <= 0.0) { // deposits buy nothing: retries come from the reserve only (tower)
            deposit_ = 0;
            withdraw_ = scale;
        } else {
            deposit_ = scale;
            withdraw_ = std::max<std::int64_t>(1, std::llround(scale / ratio));
        }
        const double ttl_s = std::chrono::duration<double>(ttl).count();
        reserve_ = std::llround(min_per_second * ttl_s * static_cast<double>(withdraw_));
    }

    /// One request: +1 deposit in the current slot.
    void deposit() noexcept {
        if (deposit_ != 0)
            add(deposit_, epoch());
    }
    /// The same for a call of `ctx`, at the call's shared clock reading (runtime/call_time.hpp:
    /// the pipeline's time-based policies read the clock once per call between them).
    void deposit(context& ctx) noexcept {
        if (deposit_ != 0)
            add(deposit_, epoch_at(call_now(ctx, clock_, true)));
    }
    /// One retry: takes `1/ratio` deposits if the balance holds them.
    bool try_withdraw() noexcept {
        const std::uint64_t e = epoch();
        // Check-then-take, as tower does: concurrent withdrawers may overdraw by one each.
        if (sum(e) < withdraw_)
            return false;
        add(-withdraw_, e);
        return true;
    }
    /// Retries the budget would allow now (reserve included).
    double balance() const noexcept {
        return static_cast<double>(sum(epoch())) / static_cast<double>(withdraw_);
    }

private:
    static constexpr std::int64_t scale = 1000;
    static constexpr std::uint64_t count_mask = 0xFFFF'FFFFu;

    std::uint64_t epoch() const noexcept { return epoch_at(now()); }
    std::uint64_t epoch_at(time_point t) const noexcept {
        return static_cast<std::uint64_t>(t.time_since_epoch() / window_);
    }
    // Real time is read coarsely (a few ms of resolution, ~3 ns instead of ~20 ns): slots are
    // ttl/10 >= 100 ms wide, and this read is on every call's path.
    time_point now() const noexcept { return coarse_now_if(clock_, true); }
    static std::uint64_t pack(std::uint64_t e, std::int64_t count) noexcept {
        count = std::clamp<std::int64_t>(count, std::numeric_limits<std::int32_t>::min(),
                                         std::numeric_limits<std::int32_t>::max());
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(e)) << 32) |
               (static_cast<std::uint64_t>(count) & count_mask);
    }
    static std::int64_t count_of(std::uint64_t w) noexcept {
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(w & count_mask));
    }
    void add(std::int64_t delta, std::uint64_t e) noexcept {
        auto& slot = slots_[e % slots];
        std::uint64_t w = slot.load(std::memory_order_relaxed);
        std::uint64_t want;
        do {
            const bool current = (w >> 32) == static_cast<std::uint32_t>(e);
            want = pack(e, (current ? count_of(w) : 0) + delta);
        } while (!slot.compare_exchange_weak(w, want, std::memory_order_acq_rel,
                                             std::memory_order_relaxed));
        // Newest window written (monotonic max; relaxed readers tolerate a stale value).
        std::uint64_t last = last_.load(std::memory_order_relaxed);
        while (last < e && !last_.compare_exchange_weak(last, e, std::memory_order_release,
                                                        std::memory_order_relaxed)) {
        }
    }
    std::int64_t sum(std::uint64_t e) const noexcept {
        std::int64_t total = reserve_;
        const std::uint64_t last = last_.load(std::memory_order_acquire);
        if (e > last && e - last >= slots) // idle for a whole ttl: every deposit expired
            return total;
        for (const auto& slot : slots_) {
            const std::uint64_t w = slot.load(std::memory_order_acquire);
            const auto age = static_cast<std::uint32_t>(static_cast<std::uint32_t>(e) - (w >> 32));
            if (age < slots) // live: written within the last ttl
                total += count_of(w);
        }
        return total;
    }

    duration window_;
    any_clock clock_;
    std::int64_t deposit_ = 0;
    std::int64_t withdraw_ = 1;
    std::int64_t reserve_ = 0;
    std::array<std::atomic<std::uint64_t>, slots> slots_{};
    std::atomic<std::uint64_t> last_{0}; // the newest window any deposit or withdrawal wrote
};

/// Envoy `retry_budget` / failsafe-go `Budget`: active retries ≤ max(min, ratio · active calls).
class concurrency_budget_state {
public:
    concurrency_budget_state(double ratio, std::uint32_t min_concurrency) noexcept
        : ratio_(ratio)
        , min_(min_concurrency) {}

    void enter() noexcept { calls_.fetch_add(1, std::memory_order_relaxed); }
    void leave() noexcept { calls_.fetch_sub(1, std::memory_order_relaxed); }
    bool try_begin_retry() noexcept {
        const auto active = calls_.load(std::memory_order_relaxed);
        const auto limit = std::max<std::int64_t>(
            min_, static_cast<std::int64_t>(ratio_ * static_cast<double>(active)));
        std::int64_t r = retries_.load(std::memory_order_relaxed);
        do {
            if (r >= limit)
                return false;
        } while (!retries_.compare_exchange_weak(r, r + 1, std::memory_order_relaxed));
        return true;
    }
    void end_retry() noexcept { retries_.fetch_sub(1, std::memory_order_relaxed); }
    std::int64_t active_calls() const noexcept { return calls_.load(std::memory_order_relaxed); }
    std::int64_t active_retries() const noexcept {
        return retries_.load(std::memory_order_relaxed);
    }

private:
    double ratio_;
    std::int64_t min_;
    std::atomic<std::int64_t> calls_{0};
    std::atomic<std::int64_t> retries_{0};
};

/// gRPC A6 retry throttling: tokens start at max; a failed attempt takes 1, a successful one
/// gives back `token_ratio`; retries stop while tokens ≤ max/2. Thousandths of a token, as A6
/// specifies token_ratio to three decimals.
class grpc_throttle_state {
public:
    grpc_throttle_state(double max_tokens, double token_ratio) noexcept
        : max_(std::llround(max_tokens * 1000.0))
        , ratio_(std::llround(token_ratio * 1000.0))
        , tokens_(max_) {}

    void on_success() noexcept {
        std::int64_t t = tokens_.load(std::memory_order_relaxed);
        while (t < max_ && !tokens_.compare_exchange_weak(t, std::min(max_, t + ratio_),
                                                          std::memory_order_relaxed))
            ;
    }
    void on_failure() noexcept {
        std::int64_t t = tokens_.load(std::memory_order_relaxed);
        while (t > 0 && !tokens_.compare_exchange_weak(t, std::max<std::int64_t>(0, t - 1000),
                                                       std::memory_order_relaxed))
            ;
    }
    bool allows_retry() const noexcept {
        return tokens_.load(std::memory_order_relaxed) * 2 > max_;
    }
    double tokens() const noexcept {
        return static_cast<double>(tokens_.load(std::memory_order_relaxed)) / 1000.0;
    }

private:
    std::int64_t max_;
    std::int64_t ratio_;
    std::atomic<std::int64_t> tokens_;
};

} // namespace bulwark::detail
