#pragma once
/// \file
/// The pieces both drivers share (the response parser, request serialization, address parsing)
/// and the connection of coroutine calls: a `beast::tcp_stream` on a strand of the transport's
/// `io_context`, with the exchange (connect, optional TLS handshake, write, read) written as a
/// coroutine over Asio operations whose frame lives in the connection.
///
/// Beast 1.74 has no per-operation cancellation (that came with Boost 1.77/1.81): the deadline
/// becomes `tcp_stream::expires_at`, and a stop request posts a close of the socket to the
/// connection's strand.

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/transport/http/message.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#if BULWARK_HTTP_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#endif

#include <atomic>
#include <charconv>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace bulwark::detail {

namespace net = boost::asio;
namespace beast = boost::beast;

/// Parses one response straight into an `http_response` (Beast's own parser would build a
/// `basic_fields` list: one allocation per header).
class http_response_reader final : public beast::http::basic_parser<false> {
public:
    http_response_reader(http_response& out, std::uint64_t body_limit, std::uint32_t header_limit)
        : out_(out) {
        this->body_limit(body_limit);
        this->header_limit(header_limit);
    }

private:
    void on_request_impl(beast::http::verb, beast::string_view, beast::string_view, int,
                         beast::error_code&) override {}
    void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
        out_.status = static_cast<unsigned>(code);
    }
    void on_field_impl(beast::http::field, beast::string_view name, beast::string_view value,
                       beast::error_code&) override {
        out_.headers.set({name.data(), name.size()}, {value.data(), value.size()});
    }
    void on_header_impl(beast::error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                           beast::error_code&) override {
        if (length && *length <= out_.body.max_size())
            out_.body.reserve(static_cast<std::size_t>(*length));
    }
    std::size_t on_body_impl(beast::string_view s, beast::error_code&) override {
        out_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s,
                                   beast::error_code&) override {
        out_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_finish_impl(beast::error_code&) override {}

    http_response& out_;
};

/// Host and port of an "host:port" or "[v6]:port" address; nothing when malformed.
struct host_port {
    std::string_view host;
    std::uint16_t port = 0;
};
inline std::optional<host_port> split_address(std::string_view a) noexcept {
    std::size_t colon = a.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
        return std::nullopt;
    std::string_view host = a.substr(0, colon);
    if (host.front() == '[') {
        if (host.back() != ']')
            return std::nullopt;
        host = host.substr(1, host.size() - 2);
    }
    const std::string_view p = a.substr(colon + 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc{} || end != p.data() + p.size() || v == 0 || v > 65535 || host.empty())
        return std::nullopt;
    return host_port{host, static_cast<std::uint16_t>(v)};
}

/// True when `s` may appear in a header line (no CR, LF or NUL: no request splitting).
constexpr bool header_safe(std::string_view s) noexcept {
    for (char c : s)
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
    return true;
}

/// What one exchange produced.
struct exchange_result {
    beast::error_code ec{};
    bool cancelled = false;  // a stop request closed the socket
    bool reusable = false;   // the connection may go back to the pool
    bool invalid = false;    // the request itself was malformed (nothing sent)
};

class http_connection;

/// The coroutine type of an exchange. Its frame lives in storage owned by the connection
/// (`promise_type::operator new`), so a warm exchange allocates nothing.
struct http_flow {
    struct promise_type {
        std::coroutine_handle<> continuation = std::noop_coroutine();

        template <class... Args>
        static void* operator new(std::size_t n, http_connection& c, Args&...);
        static void operator delete(void*, std::size_t) noexcept {} // the connection owns it

        http_flow get_return_object() noexcept {
            return http_flow{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        struct final_awaiter {
            bool await_ready() noexcept { return false; }
            std::coroutine_handle<> await_suspend(
                std::coroutine_handle<promise_type> h) noexcept {
                return h.promise().continuation;
            }
            void await_resume() noexcept {}
        };
        final_awaiter final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        // An Asio initiation may throw (out of memory): the driver reports it as a failure.
        void unhandled_exception() noexcept { error = std::current_exception(); }
        std::exception_ptr error{};
    };

    explicit http_flow(std::coroutine_handle<promise_type> h) noexcept
        : h_(h) {}
    http_flow(http_flow&& o) noexcept
        : h_(std::exchange(o.h_, {})) {}
    http_flow(const http_flow&) = delete;
    http_flow& operator=(const http_flow&) = delete;
    ~http_flow() {
        if (h_)
            h_.destroy();
    }
    bool done() const noexcept { return h_.done(); }
    void start() noexcept { h_.resume(); }
    /// True when the exchange ended with an exception (the connection is then unusable).
    bool threw() const noexcept { return static_cast<bool>(h_.promise().error); }

    /// Awaiting runs the exchange and resumes the awaiter when it ends.
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        h_.promise().continuation = awaiting;
        return h_;
    }
    void await_resume() const noexcept {}

private:
    std::coroutine_handle<promise_type> h_;
};

/// Suspends until an Asio operation started by `init(handler)` completes; the handler resumes.
template <class Init>
struct io_op {
    Init init;
    beast::error_code ec{};
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        init([this, h](beast::error_code e, auto&&...) {
            ec = e;
            h.resume();
        });
    }
    beast::error_code await_resume() const noexcept { return ec; }
};
template <class Init>
io_op(Init) -> io_op<Init>;

/// Settings an exchange needs (a subset of the transport's options).
struct exchange_settings {
    std::uint64_t body_limit = 8u << 20;
    std::uint32_t header_limit = 8192;
    duration io_timeout = std::chrono::seconds{30};
    std::string_view user_agent{};
#if BULWARK_HTTP_TLS
    net::ssl::context* tls = nullptr; // TLS when set
    bool verify_host = true;
#endif
};

/// One connection to one endpoint: the socket (plain or TLS), its read buffer, the request bytes
/// and the storage of the exchange coroutine — all reused from request to request.
///
/// **Thread safety:** used by one call at a time (the pool hands it out exclusively); only
/// `cancel_from_any_thread` may be called concurrently.
class http_connection {
public:
    /// A connection for coroutine calls, on a strand of the transport's `io_context`.
    explicit http_connection(net::io_context& shared)
        : exec_(net::make_strand(shared)) {}
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;
    ~http_connection() { close(); }

    const net::any_io_executor& executor() const noexcept { return exec_; }

    bool is_open() const noexcept { return plain_ && plain_->socket().is_open(); }
    time_point last_used() const noexcept { return last_used_; }
    void set_last_used(time_point t) noexcept { last_used_ = t; }
    std::uint32_t requests() const noexcept { return requests_; }

    /// Closes the socket (pending operations end with `operation_aborted`).
    void close() noexcept {
        beast::error_code ignored;
        if (plain_ && plain_->socket().is_open()) {
            plain_->socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
            plain_->socket().close(ignored);
        }
    }

    /// The coroutine frame storage (grows once to the frame size).
    void* frame(std::size_t n) {
        if (n > frame_size_) {
            frame_.reset(static_cast<std::byte*>(::operator new(n)));
            frame_size_ = n;
        }
        return frame_.get();
    }

    /// Runs one exchange: (re)connects if needed, writes `req`, reads into `res`.
    friend http_flow run_exchange(http_connection& c, const http_request& req, context& ctx,
                                  std::string_view address, const exchange_settings& s,
                                  http_response& res, exchange_result& out);

    /// Marks the current exchange cancelled and posts a close of the socket to the strand (a
    /// close posted for an earlier exchange is ignored).
    void cancel_from_any_thread() noexcept {
        cancelled_.store(true, std::memory_order_release);
        try {
            net::post(exec_, [this, serial = serial_.load(std::memory_order_acquire)] {
                if (serial_.load(std::memory_order_acquire) == serial)
                    close();
            });
        } catch (...) {
            // out of memory: the deadline still bounds the exchange
        }
    }
    bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }
    /// Starts a new exchange epoch (a late close posted for the previous one is ignored).
    void begin_exchange() noexcept {
        cancelled_.store(false, std::memory_order_relaxed);
        serial_.fetch_add(1, std::memory_order_acq_rel);
    }

private:
    struct frame_delete {
        void operator()(std::byte* p) const noexcept { ::operator delete(p); }
    };

    template <class F>
    auto with_stream(F&& f) {
#if BULWARK_HTTP_TLS
        if (tls_)
            return f(*tls_);
#endif
        return f(*plain_);
    }
    beast::tcp_stream& lowest() noexcept { return *plain_; }

    void arm(const context& ctx, const exchange_settings& s) {
        if (ctx.has_deadline())
            lowest().expires_at(ctx.deadline());
        else
            lowest().expires_after(s.io_timeout);
    }

    net::any_io_executor exec_;
    std::optional<beast::tcp_stream> plain_;
#if BULWARK_HTTP_TLS
    // Owns the TCP stream when TLS is on (plain_ then stays empty-but-engaged for lowest()).
    std::optional<beast::ssl_stream<beast::tcp_stream&>> tls_;
#endif
    beast::flat_buffer buffer_;
    std::string out_;
    std::unique_ptr<std::byte, frame_delete> frame_;
    std::size_t frame_size_ = 0;
    time_point last_used_{};
    std::uint32_t requests_ = 0;
    std::atomic<bool> cancelled_{false};
    std::atomic<std::uint64_t> serial_{0};
};

template <class... Args>
void* http_flow::promise_type::operator new(std::size_t n, http_connection& c, Args&...) {
    return c.frame(n);
}

/// Serializes the request line and headers into `out` (reused, so no allocation once warm).
inline bool write_request(std::string& out, const http_request& req, const context& ctx,
                          std::string_view address, std::string_view user_agent) {
    bool ok = header_safe(req.target) && header_safe(req.host) &&
              header_safe(req.content_type) && !req.target.empty();
    req.headers.for_each([&](std::string_view k, std::string_view v) {
        ok = ok && header_safe(k) && header_safe(v) && !k.empty() &&
             k.find(':') == std::string_view::npos;
    });
    ctx.headers().for_each([&](std::string_view k, std::string_view v) {
        ok = ok && header_safe(k) && header_safe(v);
    });
    if (!ok)
        return false;
    out.clear();
    auto line = [&](std::string_view k, std::string_view v) {
        out.append(k).append(": ").append(v).append("\r\n");
    };
    out.append(to_string(req.method)).append(" ").append(req.target).append(" HTTP/1.1\r\n");
    line("Host", req.host.empty() ? address : req.host);
    if (!user_agent.empty())
        line("User-Agent", user_agent);
    // The context's tracing headers travel with every request (W3C trace context, correlation).
    for (std::string_view h : {header::correlation_id, header::traceparent, header::tracestate})
        if (auto v = ctx.headers().get(h); v && !req.headers.contains(h))
            line(h, *v);
    req.headers.for_each(line);
    if (!req.body.empty() || req.method == http_method::post || req.method == http_method::put ||
        req.method == http_method::patch) {
        if (!req.content_type.empty())
            line("Content-Type", req.content_type);
        char len[24];
        auto [end, ec] = std::to_chars(len, len + sizeof len, req.body.size());
        (void)ec;
        line("Content-Length", std::string_view(len, static_cast<std::size_t>(end - len)));
    }
    out.append("\r\n");
    return true;
}

// The frame comes from the connection's storage (a placement-style operator new) and its
// operator delete does nothing on purpose; gcc cannot see that they belong together.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
inline http_flow run_exchange(http_connection& c, const http_request& req, context& ctx,
                              std::string_view address, const exchange_settings& s,
                              http_response& res, exchange_result& out) {
    namespace http = beast::http;
    using tcp = net::ip::tcp;
    out = {};
    if (!write_request(c.out_, req, ctx, address, s.user_agent)) {
        out.invalid = true;
        co_return;
    }
    // One fresh-connection retry: a kept-alive connection the server closed while it sat idle
    // fails before any response byte; an idempotent request is then re-sent once (RFC 9112 §9.3.1).
    for (int round = 0; round < 2; ++round) {
        const bool reused = c.is_open();
        beast::error_code ec;
        if (!reused) {
            c.requests_ = 0;
            c.buffer_.clear();
#if BULWARK_HTTP_TLS
            c.tls_.reset();
#endif
            c.plain_.emplace(c.exec_);
            const auto hp = split_address(address);
            if (!hp) {
                out.ec = net::error::invalid_argument;
                co_return;
            }
            c.arm(ctx, s);
            beast::error_code aec;
            const auto ip = net::ip::make_address(std::string_view(hp->host), aec);
            if (!aec) {
                ec = co_await io_op{[&](auto h) {
                    c.lowest().async_connect(tcp::endpoint(ip, hp->port), std::move(h));
                }};
            } else { // a host name: resolve (cold; the deadline bounds the connect, not this)
                tcp::resolver resolver(c.exec_);
                tcp::resolver::results_type results;
                char port[8];
                auto [pend, pec] = std::to_chars(port, port + sizeof port, hp->port);
                (void)pec;
                ec = co_await io_op{[&](auto h) {
                    resolver.async_resolve(
                        hp->host, std::string_view(port, static_cast<std::size_t>(pend - port)),
                        [&results, h = std::move(h)](beast::error_code e,
                                                     tcp::resolver::results_type r) mutable {
                            results = std::move(r);
                            h(e);
                        });
                }};
                if (!ec)
                    ec = co_await io_op{[&](auto h) {
                        c.lowest().async_connect(
                            results, [h = std::move(h)](beast::error_code e,
                                                        const tcp::endpoint&) mutable { h(e); });
                    }};
            }
            if (!ec) {
                beast::error_code nd;
                c.lowest().socket().set_option(tcp::no_delay(true), nd);
            }
#if BULWARK_HTTP_TLS
            if (!ec && s.tls != nullptr) {
                c.tls_.emplace(c.lowest(), *s.tls);
                const std::string host(hp->host); // cold: once per connection
                if (!::SSL_set_tlsext_host_name(c.tls_->native_handle(), host.c_str())) {
                    ec = beast::error_code(static_cast<int>(::ERR_get_error()),
                                           net::error::get_ssl_category());
                } else {
                    if (s.verify_host)
                        c.tls_->set_verify_callback(net::ssl::host_name_verification(host));
                    c.arm(ctx, s);
                    ec = co_await io_op{[&](auto h) {
                        c.tls_->async_handshake(net::ssl::stream_base::client, std::move(h));
                    }};
                }
            }
#endif
            if (ec) {
                out.ec = ec;
                c.close();
                co_return;
            }
        }
        c.arm(ctx, s);
        ec = co_await io_op{[&](auto h) {
            c.with_stream([&](auto& st) { net::async_write(st, net::buffer(c.out_), h); });
        }};
        if (!ec && !req.body.empty()) {
            ec = co_await io_op{[&](auto h) {
                c.with_stream([&](auto& st) {
                    net::async_write(st, net::const_buffer(req.body.data(), req.body.size()), h);
                });
            }};
        }
        res.status = 0;
        res.headers.clear();
        res.body.clear();
        http_response_reader reader(res, s.body_limit, s.header_limit);
        if (!ec) {
            c.arm(ctx, s);
            ec = co_await io_op{[&](auto h) {
                c.with_stream([&](auto& st) { http::async_read(st, c.buffer_, reader, h); });
            }};
        }
        if (!ec) {
            ++c.requests_;
            out.reusable = reader.keep_alive() && !reader.need_eof() && !c.cancelled();
            if (!out.reusable)
                c.close();
            c.lowest().expires_never();
            co_return;
        }
        c.close();
        const bool stale = reused && !reader.got_some() && !c.cancelled() &&
                           ec != beast::error::timeout && is_idempotent(req.method);
        if (!stale || round == 1) {
            out.ec = ec;
            out.cancelled = c.cancelled();
            co_return;
        }
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

} // namespace bulwark::detail
