#pragma once
/// \file
/// `http_transport`: a request transport over HTTP/1.1 (Boost.Beast), for calls behind
/// `pipeline` and `balance`: keep-alive pools per endpoint, the context's deadline as the socket
/// timeout, its stop token closing the socket, status classification, `Retry-After` as retry
/// pushback, and the context's correlation id and traceparent on every request.
///
/// ```cpp
/// bulwark::http_transport http;
/// auto client = bulwark::pipeline{bulwark::timeout{.total = 2s}, bulwark::retry{...},
///                                 bulwark::balance<bulwark::p2c_peak_ewma>{reg},
///                                 bulwark::timeout{.per_attempt = 300ms}};
/// auto res = client.execute([&](bulwark::context& ctx) {
///     return http.send({.target = "/users/7"}, ctx); });
/// ```
/// Needs the optional target `bulwark::http` (Boost headers + Threads; TLS through OpenSSL).

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/task.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/transport/http/connection.hpp>
#include <bulwark/transport/http/message.hpp>
#include <bulwark/transport/http/pool.hpp>
#include <bulwark/transport/http/retry_after.hpp>
#include <bulwark/transport/http/sync_connection.hpp>
#include <bulwark/transport/request_transport.hpp>

#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#ifndef BULWARK_HTTP_TLS
#define BULWARK_HTTP_TLS 0
#endif

namespace bulwark {

/// TLS settings (only with `BULWARK_HTTP_TLS`, i.e. when `bulwark::http` found OpenSSL).
struct http_tls_options {
    std::string ca_file{};   ///< PEM file of trusted roots (default: the system's roots)
    std::string ca_pem{};    ///< PEM text of trusted roots (tests: a generated certificate)
    bool verify_peer = true; ///< verify the server's certificate chain
    bool verify_host = true; ///< verify that the certificate names the endpoint's host
};

/// Settings of an `http_transport`. Validated at construction.
struct http_options {
    std::uint32_t max_connections = 16;               ///< per endpoint, idle + in use (>= 1)
    duration idle_timeout = std::chrono::seconds{60}; ///< idle longer: closed, not reused (> 0)
    std::uint32_t max_requests_per_connection = 0;    ///< then a fresh connection (0 = unlimited)
    /// How long a call waits for a connection when the endpoint's pool is full (also bounded by
    /// the call's deadline); then it fails with `errc::bulkhead_full` (> 0).
    duration acquire_timeout = std::chrono::seconds{1};
    /// The socket timeout of a call whose context has no deadline: nothing waits forever (> 0).
    duration io_timeout = std::chrono::seconds{30};
    std::uint64_t body_limit = 8u << 20; ///< larger response bodies fail (>= 1)
    std::uint32_t header_limit = 8192;   ///< larger response headers fail (>= 64)
    /// `Retry-After` values are clamped to this (a server cannot park a client for a day).
    duration max_retry_after = std::chrono::seconds{60};
    std::string user_agent = "bulwark"; ///< User-Agent header (empty: none)
    std::size_t max_endpoints = 1024;   ///< endpoints found without a lock (more still work)
    /// Worker threads of coroutine calls: each runs one exchange at a time (>= 1).
    unsigned io_threads = 4;
    std::optional<http_tls_options> tls{}; ///< TLS to every endpoint when set

    void validate() const {
        using detail::require;
        require(max_connections >= 1, "http_transport", "max_connections", ">= 1", max_connections);
        require(idle_timeout > duration::zero(), "http_transport", "idle_timeout", "> 0",
                idle_timeout);
        require(acquire_timeout > duration::zero(), "http_transport", "acquire_timeout", "> 0",
                acquire_timeout);
        require(io_timeout > duration::zero(), "http_transport", "io_timeout", "> 0", io_timeout);
        require(body_limit >= 1, "http_transport", "body_limit", ">= 1", body_limit);
        require(header_limit >= 64, "http_transport", "header_limit", ">= 64", header_limit);
        require(max_retry_after >= duration::zero(), "http_transport", "max_retry_after", ">= 0",
                max_retry_after);
        require(max_endpoints >= 1, "http_transport", "max_endpoints", ">= 1", max_endpoints);
        require(io_threads >= 1, "http_transport", "io_threads", ">= 1", io_threads);
        require(detail::header_safe(user_agent), "http_transport", "user_agent",
                "free of CR, LF and NUL", user_agent);
#if !BULWARK_HTTP_TLS
        require(!tls.has_value(), "http_transport", "tls",
                "unset: this build has no TLS (bulwark::http found no OpenSSL)", "set");
#endif
    }
};

/// An HTTP/1.1 request transport (`request_transport<http_transport, http_request>`).
///
/// `StatusFailure` decides which statuses are failures (`bool(unsigned status)`; default
/// `http_status_failures`: 5xx, 429, 408). A failing status comes back as a failure with code
/// `errc::transport_error` carrying an `http_status_error` (the status and the whole response)
/// and, when the response has a `Retry-After` header, its delay as `failure::retry_after`, which
/// `retry` honours as pushback. Other statuses come back as values.
///
/// **Failure semantics:** never throws from `send`. Connection refused, reset, a response cut
/// short (truncated body, partial headers), a malformed response or one over the limits →
/// `errc::transport_error`; the deadline (or `io_timeout` without one) passed → `errc::timeout`;
/// stop requested → `errc::cancelled`; a header with CR/LF → `errc::invalid_argument`; the
/// endpoint's pool full for `acquire_timeout` → `errc::bulkhead_full`; no endpoint in the
/// context → `errc::no_endpoint`. A kept-alive connection found dead before any response byte is
/// replaced once, transparently, for idempotent methods.
/// **Time and cancellation:** the context's deadline is the socket's expiry (connect, TLS
/// handshake, write, read); a stop request closes the socket (Beast 1.74 has no per-operation
/// cancellation). Deadlines are steady-clock times: the transport does real I/O.
/// **Thread safety:** thread-safe; share one transport between threads and pipelines.
/// **Allocation:** none on a warm keep-alive connection for a response whose body fits 15
/// bytes and whose headers fit the header map (else the body and headers themselves); the
/// context's stop source if the call has none yet (one per logical call, by the standard
/// library); connections, the first request to an endpoint and failures allocate (cold).
template <class StatusFailure = http_status_failures>
class http_transport {
public:
    using transport_concept = request_transport_tag;
    using response_type = http_response;

    explicit http_transport(http_options o = {}, StatusFailure status_failure = {})
        : opts_((o.validate(), std::move(o)))
        , status_failure_(std::move(status_failure))
        , pools_(opts_.max_endpoints,
                 detail::pool_limits{opts_.max_connections, opts_.idle_timeout,
                                     opts_.max_requests_per_connection, opts_.acquire_timeout}) {
        settings_.body_limit = opts_.body_limit;
        settings_.header_limit = opts_.header_limit;
        settings_.io_timeout = opts_.io_timeout;
        settings_.user_agent = opts_.user_agent;
#if BULWARK_HTTP_TLS
        if (opts_.tls)
            init_tls(*opts_.tls);
#endif
    }
    http_transport(const http_transport&) = delete;
    http_transport& operator=(const http_transport&) = delete;
    /// Lets queued coroutine calls finish, stops the worker threads and closes every
    /// connection. No call may be in flight on another thread.
    ~http_transport() {
        {
            std::lock_guard lock(queue_mutex_);
            stopping_ = true;
        }
        queue_cv_.notify_all();
        for (auto& t : workers_)
            t.join();
    }

    /// Sends `req` to the context's endpoint (`ctx.endpoint()`, set by `balance`).
    outcome<http_response> send(const http_request& req, context& ctx) noexcept {
        if (ctx.endpoint() == nullptr)
            return errc::no_endpoint;
        return send(ctx.endpoint()->address(), req, ctx);
    }

    /// Sends `req` to `address` ("host:port").
    outcome<http_response> send(std::string_view address, const http_request& req,
                                context& ctx) noexcept {
        try {
            return send_sync(address, req, ctx);
        } catch (...) { // out of memory while opening a connection or building a failure
            return errc::transport_error;
        }
    }

    /// The coroutine call: the exchange runs on one of the transport's `io_threads` (blocking
    /// I/O bounded by the deadline, like `send`), where the task then resumes. At most
    /// `io_threads` coroutine calls are in flight; more wait in a FIFO queue. The task is lazy,
    /// so it takes the request by value (its views must stay valid until the task ends).
    task<outcome<http_response>> async_send(http_request req, context& ctx) {
        if (ctx.endpoint() == nullptr)
            co_return errc::no_endpoint;
        co_return co_await async_send(ctx.endpoint()->address(), std::move(req), ctx);
    }
    task<outcome<http_response>> async_send(std::string_view address, http_request req,
                                            context& ctx) {
        if (auto early = precheck(ctx))
            co_return std::move(*early);
        co_await offload{this};
        co_return send(address, req, ctx);
    }

    // ---- pool state -------------------------------------------------------------------------

    /// Open connections (idle and in use) across endpoints and drivers.
    std::size_t open_connections() {
        std::size_t n = 0;
        pools_.for_each([&](auto& e) { n += e.pool.open(); });
        return n;
    }
    /// Idle connections across endpoints and drivers.
    std::size_t idle_connections() {
        std::size_t n = 0;
        pools_.for_each([&](auto& e) { n += e.pool.idle(); });
        return n;
    }
    /// Closes idle connections unused for `idle_timeout` (all of them with `all = true`);
    /// returns how many. Idle connections are also dropped when a call finds them too old.
    std::size_t close_idle(bool all = false) {
        const time_point older =
            all ? time_point::max() : std::chrono::steady_clock::now() - opts_.idle_timeout;
        std::size_t n = 0;
        pools_.for_each([&](auto& e) { n += e.pool.close_idle(older); });
        return n;
    }

    const http_options& options() const noexcept {
        return opts_;
    }

private:
    /// Moves the awaiting coroutine to a worker thread.
    struct offload {
        http_transport* self;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) { self->enqueue(h); }
        void await_resume() const noexcept {}
    };

    void enqueue(std::coroutine_handle<> h) {
        std::call_once(workers_started_, [this] {
            for (unsigned i = 0; i < opts_.io_threads; ++i)
                workers_.emplace_back([this] { work(); });
        });
        {
            std::lock_guard lock(queue_mutex_);
            queue_.push_back(h);
        }
        queue_cv_.notify_one();
    }
    void work() {
        for (;;) {
            std::coroutine_handle<> h;
            {
                std::unique_lock lock(queue_mutex_);
                queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
                if (queue_.empty())
                    return;
                h = queue_.front();
                queue_.pop_front();
            }
            h.resume();
        }
    }

    std::optional<outcome<http_response>> precheck(context& ctx) const noexcept {
        if (ctx.stop_requested())
            return outcome<http_response>{errc::cancelled};
        if (ctx.has_deadline() && std::chrono::steady_clock::now() >= ctx.deadline())
            return outcome<http_response>{errc::timeout};
        return std::nullopt;
    }

    outcome<http_response> send_sync(std::string_view address, const http_request& req,
                                     context& ctx) {
        if (auto early = precheck(ctx))
            return std::move(*early);
        auto& pool = pools_.of(address).pool;
        using pool_t = std::remove_reference_t<decltype(pool)>;
        typename pool_t::acquire_error err{};
        detail::sync_connection* c = pool.acquire(ctx, std::chrono::steady_clock::now(), err);
        if (c == nullptr)
            return err == pool_t::acquire_error::cancelled ? errc::cancelled
                   : err == pool_t::acquire_error::timeout ? errc::timeout
                                                           : errc::bulkhead_full;
        c->begin_exchange();
        http_response res;
        detail::exchange_result r;
        bool threw = false;
        {
            // A stop request shuts the socket down from the requesting thread: the poll() this
            // thread waits in wakes up, and the exchange ends as cancelled.
            std::stop_callback cb(ctx.stop_token(),
                                  [c]() noexcept { c->cancel_from_any_thread(); });
            try {
                c->exchange(req, ctx, address, settings_, res, r);
            } catch (...) { // out of memory, or a TLS layer that threw
                c->close();
                threw = true;
            }
        }
        return finish(pool, c, r, threw, ctx, std::move(res));
    }

    template <class Pool, class Conn>
    outcome<http_response> finish(Pool& pool, Conn* c, const detail::exchange_result& r, bool threw,
                                  context& ctx, http_response&& res) {
        const bool ok = !threw && !r.invalid && !r.ec;
        pool.release(c, ok && r.reusable, std::chrono::steady_clock::now());
        if (threw)
            return errc::transport_error;
        if (r.invalid)
            return errc::invalid_argument;
        if (r.ec) {
            if (r.cancelled || ctx.stop_requested())
                return errc::cancelled;
            if (r.ec == detail::beast_error::timeout)
                return errc::timeout;
            return errc::transport_error;
        }
        if (!status_failure_(res.status)) [[likely]]
            return std::move(res);
        duration after{};
        if (auto v = res.headers.get("retry-after"))
            if (auto d = parse_retry_after(*v, opts_.max_retry_after))
                after = *d;
        return failure{errc::transport_error,
                       std::make_exception_ptr(http_status_error(std::move(res), after)), after};
    }

#if BULWARK_HTTP_TLS
    void init_tls(const http_tls_options& t) {
        namespace ssl = detail::net::ssl;
        tls_.emplace(ssl::context::tls_client);
        tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                          ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                          ssl::context::no_tlsv1_1);
        if (!t.ca_pem.empty())
            tls_->add_certificate_authority(detail::net::buffer(t.ca_pem));
        if (!t.ca_file.empty())
            tls_->load_verify_file(t.ca_file);
        if (t.ca_pem.empty() && t.ca_file.empty())
            tls_->set_default_verify_paths();
        tls_->set_verify_mode(t.verify_peer ? ssl::verify_peer : ssl::verify_none);
        settings_.tls = &*tls_;
        settings_.verify_host = t.verify_host && t.verify_peer;
    }
    std::optional<detail::net::ssl::context> tls_;
#endif

    http_options opts_;
    [[no_unique_address]] StatusFailure status_failure_;
    detail::exchange_settings settings_;
    detail::pool_table pools_;
    std::once_flag workers_started_;
    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::deque<std::coroutine_handle<>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> workers_; // last: joined before anything they use is destroyed
};

static_assert(request_transport<http_transport<>, http_request>);

} // namespace bulwark
