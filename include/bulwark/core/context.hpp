#pragma once
/// \file
/// `context`: one object per logical call, handed down the pipeline — deadline, cancellation,
/// attempt number, chosen endpoint, headers and user data.

#include <bulwark/core/endpoint_info.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/time_types.hpp>
#include <bulwark/detail/hash.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string_view>
#include <utility>

namespace bulwark {

/// The state of one logical call (all its attempts).
///
/// - **Deadline:** `deadline()` is the earliest deadline set by any enclosing timeout (or the
///   caller). Policies only ever tighten it (`scoped_deadline`); operations and transports must
///   honour it.
/// - **Cancellation:** cooperative, through `std::stop_token`. `stop_requested()` is a cheap
///   check that allocates nothing; `stop_token()` creates the call's `std::stop_source` on first
///   use (one allocation per logical call, by the standard library) and links it to the caller's
///   token, if one was given.
/// - **Attempt:** 1 for the first attempt; retry and hedge policies advance it.
/// - **Endpoint:** the endpoint a balancer picked for the current attempt, and the endpoints
///   already tried in this call (so a retry can avoid them).
///
/// **Thread safety:** a context belongs to one logical call; only `request_stop` and
/// `stop_requested` may be used from other threads. **Allocation:** none to create; headers stay
/// inline while small (see `header_map`).
class context {
public:
    /// How many tried endpoints a context remembers (the most recent ones).
    static constexpr std::size_t tried_capacity = 8;

    context() noexcept {} // user-provided: `context ctx{}` must not zero the inline buffers
    /// A context whose call is cancelled when `caller` is stopped.
    explicit context(std::stop_token caller) noexcept
        : caller_(std::move(caller)) {}
    /// A context with a deadline.
    explicit context(time_point deadline, std::stop_token caller = {}) noexcept
        : deadline_(deadline)
        , caller_(std::move(caller)) {}

    /// A child context for one branch of a call (a hedged attempt, a saga step): same deadline,
    /// headers, attempt, hash key and user data; cancelled when `parent` is cancelled, and
    /// cancellable on its own without cancelling the parent.
    struct child_t {};
    static constexpr child_t child{};
    context(child_t, context& parent)
        : deadline_(parent.deadline_)
        , caller_(parent.stop_token())
        , attempt_(parent.attempt_)
        , endpoint_(parent.endpoint_)
        , tried_(parent.tried_)
        , tried_count_(parent.tried_count_)
        , hash_key_(parent.hash_key_)
        , headers_(parent.headers_)
        , user_(parent.user_)
        , user_type_(parent.user_type_) {}

    context(const context&) = delete;
    context& operator=(const context&) = delete;

    // ---- deadline ---------------------------------------------------------------------------

    time_point deadline() const noexcept { return deadline_; }
    bool has_deadline() const noexcept { return deadline_ != no_deadline; }
    /// Tightens the deadline to `t` if `t` is earlier; never extends it. Returns the previous one.
    time_point tighten_deadline(time_point t) noexcept {
        time_point old = deadline_;
        if (t < deadline_)
            deadline_ = t;
        return old;
    }
    /// Restores a deadline saved from `tighten_deadline` (used by scoped_deadline).
    void restore_deadline(time_point t) noexcept { deadline_ = t; }
    /// Time left before the deadline at `now` (`duration::max()` without one; may be negative).
    duration remaining(time_point now) const noexcept {
        return has_deadline() ? deadline_ - now : duration::max();
    }
    bool expired(time_point now) const noexcept { return now >= deadline_; }

    // ---- cancellation -----------------------------------------------------------------------

    /// True once stop was requested for this call or for the caller's token.
    bool stop_requested() const noexcept {
        return (own_.stop_possible() && own_.stop_requested()) || caller_.stop_requested();
    }
    /// Requests stop for this call (and anything holding its token). Returns false if it was
    /// already requested.
    bool request_stop() {
        ensure_source();
        return own_.request_stop();
    }
    /// The call's stop token. Creates the call's stop source on first use.
    std::stop_token stop_token() {
        ensure_source();
        return own_.get_token();
    }

    // ---- attempts and endpoints -------------------------------------------------------------

    /// The current attempt, starting at 1.
    std::uint32_t attempt() const noexcept { return attempt_; }
    void set_attempt(std::uint32_t n) noexcept { attempt_ = n; }

    /// The endpoint picked for the current attempt, or null (`bulwark::balanced_endpoint(ctx)`
    /// gives balance's `endpoint` with its statistics).
    const endpoint_identity* endpoint() const noexcept { return endpoint_; }
    /// Sets the endpoint of this attempt and remembers it as tried.
    void set_endpoint(const endpoint_identity* e) noexcept {
        endpoint_ = e;
        if (e != nullptr && !was_tried(e))
            tried_[tried_count_++ % tried_capacity] = e;
    }
    bool was_tried(const endpoint_identity* e) const noexcept {
        std::size_t n = tried_count_ < tried_capacity ? tried_count_ : tried_capacity;
        for (std::size_t i = 0; i < n; ++i)
            if (tried_[i] == e)
                return true;
        return false;
    }
    std::size_t tried_count() const noexcept { return tried_count_; }

    /// The key that hash-based balancers (ring hash, Maglev) route by.
    std::optional<std::uint64_t> hash_key() const noexcept { return hash_key_; }
    void set_hash_key(std::uint64_t key) noexcept { hash_key_ = key; }
    /// Hashes `key` (FNV-1a, 64-bit) and routes by it.
    void set_hash_key(std::string_view key) noexcept { hash_key_ = detail::fnv1a64(key); }

    // ---- headers and user data --------------------------------------------------------------

    header_map& headers() noexcept { return headers_; }
    const header_map& headers() const noexcept { return headers_; }

    /// Attaches a caller-owned object; `user_data<T>()` returns it back (null for another T).
    template <class T>
    void set_user_data(T* p) noexcept {
        user_ = const_cast<void*>(static_cast<const void*>(p));
        user_type_ = &type_tag<T>;
    }
    template <class T>
    T* user_data() const noexcept {
        return user_type_ == &type_tag<T> ? static_cast<T*>(user_) : nullptr;
    }

private:
    template <class T>
    static constexpr char type_tag = 0;

    struct forward_stop {
        std::stop_source* target;
        void operator()() const noexcept { target->request_stop(); }
    };

    void ensure_source() {
        if (own_.stop_possible())
            return;
        own_ = std::stop_source{};
        if (caller_.stop_possible())
            link_.emplace(caller_, forward_stop{&own_});
    }

    time_point deadline_ = no_deadline;
    std::stop_source own_{std::nostopstate};
    std::stop_token caller_{};
    std::optional<std::stop_callback<forward_stop>> link_;
    std::uint32_t attempt_ = 1;
    const endpoint_identity* endpoint_ = nullptr;
    std::array<const endpoint_identity*, tried_capacity> tried_{};
    std::size_t tried_count_ = 0;
    std::optional<std::uint64_t> hash_key_{};
    header_map headers_;
    void* user_ = nullptr;
    const void* user_type_ = nullptr;
};

/// Tightens a context's deadline for a scope and restores it after (per-attempt timeouts).
class scoped_deadline {
public:
    scoped_deadline(context& ctx, time_point t) noexcept
        : ctx_(ctx)
        , saved_(ctx.tighten_deadline(t)) {}
    ~scoped_deadline() { ctx_.restore_deadline(saved_); }
    scoped_deadline(const scoped_deadline&) = delete;
    scoped_deadline& operator=(const scoped_deadline&) = delete;

private:
    context& ctx_;
    time_point saved_;
};

} // namespace bulwark
