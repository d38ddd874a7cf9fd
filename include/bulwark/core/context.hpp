#pragma once
/// \file
/// `context`: one object per logical call, handed down the pipeline — deadline, cancellation,
/// attempt number, chosen endpoint, headers and user data.

#include <bulwark/core/endpoint_info.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/time_types.hpp>
#include <bulwark/detail/hash.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string_view>
#include <utility>

namespace bulwark {

class context;

/// One level of cancellation of a call: the call itself (inside its `context`), or the scope of a
/// timeout that stops its call on expiry (in the timeout's frame, pushed with `context::
/// push_stop_scope`). Its request is a flag, so requesting and checking allocate nothing; a
/// `std::stop_source` is made only when the operation asks for a token, and published with the
/// same flag word, so a request from another thread (a timer) and the owner's creation of the
/// source never miss each other: whichever comes second in the word's order stops the source.
///
/// **Thread safety:** `request()` and `requested()` from any thread; the rest on the owner's.
class stop_scope {
public:
    stop_scope() noexcept = default;
    stop_scope(const stop_scope&) = delete;
    stop_scope& operator=(const stop_scope&) = delete;

    /// Requests stop on this scope (and on its token, if one was handed out). Returns false when
    /// it was already requested. Any thread; allocates nothing.
    bool request() noexcept {
        const std::uint8_t old = flags_.fetch_or(requested_bit, std::memory_order_acq_rel);
        if (old & requested_bit)
            return false;
        if (old & source_bit)
            source_.request_stop(); // the owner published it: stop it (runs its callbacks here)
        return true;
    }
    /// True once `request()` was called on this scope (not its parents: see `context`).
    bool requested() const noexcept {
        return (flags_.load(std::memory_order_acquire) & requested_bit) != 0;
    }

private:
    friend class context;
    static constexpr std::uint8_t requested_bit = 1, source_bit = 2;

    struct forward_stop {
        stop_scope* target;
        void operator()() const noexcept { target->request(); }
    };

    /// The scope's token, linked to `parent` (the enclosing scope's token, or the caller's).
    /// Owner thread only.
    std::stop_token token(const std::stop_token& parent) {
        if ((flags_.load(std::memory_order_relaxed) & source_bit) == 0) {
            source_ = std::stop_source{};
            const std::uint8_t old = flags_.fetch_or(source_bit, std::memory_order_acq_rel);
            if (old & requested_bit)
                source_.request_stop(); // requested before the source existed
            if (parent.stop_possible())
                link_.emplace(parent, forward_stop{this});
        }
        return source_.get_token();
    }

    std::atomic<std::uint8_t> flags_{0};
    stop_scope* parent_ = nullptr;
    std::stop_source source_{std::nostopstate};
    std::optional<std::stop_callback<forward_stop>> link_;
};

/// The state of one logical call (all its attempts).
///
/// - **Deadline:** `deadline()` is the earliest deadline set by any enclosing timeout (or the
///   caller). Policies only ever tighten it (`scoped_deadline`); operations and transports must
///   honour it.
/// - **Cancellation:** cooperative, through `std::stop_token`. `stop_requested()` is a cheap
///   check that allocates nothing; `request_stop()` from any thread allocates nothing either.
///   `stop_token()` creates a `std::stop_source` on first use (one allocation by the standard
///   library, and only when the operation asks for a token) and links it to the caller's token,
///   if one was given. A timeout that stops on expiry opens a *stop scope* (`stop_scope`, in its
///   own frame): inside it, `stop_token()` is the scope's token and the scope's expiry stops it
///   without stopping the caller's context, so the next attempt of a retry starts unstopped.
/// - **Time of the call:** `call_time()` carries one clock reading per call for the time-based
///   policies of a pipeline (see `runtime/call_time.hpp`); the pipeline clears it at entry and
///   `set_attempt` clears it for a new attempt.
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

    /// True once stop was requested for this call, for an open stop scope, or for the caller's
    /// token. Allocates nothing.
    bool stop_requested() const noexcept {
        for (const stop_scope* s = top_; s != nullptr; s = s->parent_)
            if (s->requested())
                return true;
        return caller_.stop_requested();
    }
    /// Requests stop for this call (and anything holding its tokens, inside any open scope).
    /// Returns false if it was already requested. Any thread; allocates nothing.
    bool request_stop() noexcept { return root_.request(); }
    /// The stop token of the innermost open scope (the call's own outside any). Creates the
    /// `std::stop_source`s on first use (one allocation per scope, by the standard library).
    std::stop_token stop_token() { return token_of(*top_); }

    /// Opens `s` as the innermost stop scope (a timeout that stops on expiry does this around
    /// its call; `s` lives in its frame). Owner thread; close with `pop_stop_scope` (LIFO).
    void push_stop_scope(stop_scope& s) noexcept {
        s.parent_ = top_;
        top_ = &s;
    }
    /// Closes the innermost stop scope `s`: its requests and its token no longer affect the call.
    void pop_stop_scope(stop_scope& s) noexcept { top_ = s.parent_; }

    // ---- time of the call -------------------------------------------------------------------

    /// The clock reading this call's time-based policies share, if one was taken from the clock
    /// identified by `source` since the call (or the attempt) began; `time_point::min()` if not.
    /// Read through `detail::call_now` (runtime/call_time.hpp), which takes and stores it.
    time_point call_time(const void* source) const noexcept {
        return call_time_source_ == source ? call_time_ : time_point::min();
    }
    /// Stores the reading of the clock identified by `source` for this call.
    void set_call_time(const void* source, time_point t) noexcept {
        call_time_ = t;
        call_time_source_ = source;
    }
    /// Forgets the shared reading (a new call or attempt, or after a wait).
    void clear_call_time() noexcept { call_time_source_ = no_source(); }

    // ---- attempts and endpoints -------------------------------------------------------------

    /// The current attempt, starting at 1.
    std::uint32_t attempt() const noexcept { return attempt_; }
    /// Sets the attempt number; a new attempt also forgets the shared clock reading (time has
    /// moved on since the previous attempt began).
    void set_attempt(std::uint32_t n) noexcept {
        if (n != attempt_)
            clear_call_time();
        attempt_ = n;
    }

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

    static const void* no_source() noexcept {
        static const char tag = 0;
        return &tag;
    }

    std::stop_token token_of(stop_scope& s) {
        return s.token(s.parent_ != nullptr ? token_of(*s.parent_) : caller_);
    }

    time_point deadline_ = no_deadline;
    std::stop_token caller_{};
    stop_scope root_;          // the call's own cancellation
    stop_scope* top_ = &root_; // the innermost open scope (a context is never moved)
    time_point call_time_{};
    const void* call_time_source_ = no_source();
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
