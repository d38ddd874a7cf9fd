#pragma once
/// \file
/// The connection of sync calls: a non-blocking socket whose reads and writes wait in `poll()`
/// until the call's deadline (Beast's `tcp_stream` gives blocking calls no timeout), cancelled
/// by a `shutdown()` of the socket from the stop callback (thread-safe at the OS level). Beast's
/// synchronous `http::read` and Asio's synchronous TLS run on top of it. No handler, executor or
/// timer is involved, so a warm exchange allocates nothing.

#include <bulwark/core/context.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/transport/http/connection.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace bulwark::detail {

/// A socket with a deadline: the `SyncReadStream`/`SyncWriteStream` under Beast's sync reads
/// (and under `ssl::stream` for TLS).
class deadline_socket {
public:
    using lowest_layer_type = net::ip::tcp::socket;
    using executor_type = lowest_layer_type::executor_type;

    explicit deadline_socket(net::io_context& ioc)
        : sock_(ioc) {}

    lowest_layer_type& lowest_layer() noexcept { return sock_; }
    const lowest_layer_type& lowest_layer() const noexcept { return sock_; }
    executor_type get_executor() noexcept { return sock_.get_executor(); }

    void set_deadline(time_point t) noexcept { deadline_ = t; }

    /// Connects within the deadline.
    void connect(const net::ip::tcp::endpoint& ep, beast::error_code& ec) {
        sock_.open(ep.protocol(), ec);
        if (ec)
            return;
        sock_.non_blocking(true, ec);
        if (ec)
            return;
        sock_.connect(ep, ec);
        if (ec == net::error::would_block || ec == net::error::in_progress) {
            if (!wait(POLLOUT, ec))
                return;
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(sock_.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
            ec = err != 0 ? beast::error_code(err, boost::system::system_category())
                          : beast::error_code{};
        }
        if (!ec)
            sock_.set_option(net::ip::tcp::no_delay(true), ec);
    }

    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& b, beast::error_code& ec) {
        for (;;) {
            const std::size_t n = sock_.read_some(b, ec);
            if (ec != net::error::would_block && ec != net::error::try_again)
                return n;
            if (!wait(POLLIN, ec))
                return 0;
        }
    }
    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& b) {
        beast::error_code ec;
        const std::size_t n = read_some(b, ec);
        if (ec)
            throw boost::system::system_error(ec);
        return n;
    }
    template <class ConstBuffers>
    std::size_t write_some(const ConstBuffers& b, beast::error_code& ec) {
        for (;;) {
            const std::size_t n = sock_.write_some(b, ec);
            if (ec != net::error::would_block && ec != net::error::try_again)
                return n;
            if (!wait(POLLOUT, ec))
                return 0;
        }
    }
    template <class ConstBuffers>
    std::size_t write_some(const ConstBuffers& b) {
        beast::error_code ec;
        const std::size_t n = write_some(b, ec);
        if (ec)
            throw boost::system::system_error(ec);
        return n;
    }

private:
    // Waits for `events` until the deadline; false (with `ec` set) on timeout or error.
    bool wait(short events, beast::error_code& ec) {
        for (;;) {
            int ms = -1;
            if (deadline_ != time_point::max()) {
                const auto left = deadline_ - std::chrono::steady_clock::now();
                if (left <= duration::zero()) {
                    ec = beast::error::timeout;
                    return false;
                }
                // Round up: poll's milliseconds must not wake before the deadline.
                ms = static_cast<int>(std::min<std::int64_t>(
                    (std::chrono::duration_cast<std::chrono::microseconds>(left).count() + 999) /
                        1000,
                    60'000));
            }
            pollfd p{sock_.native_handle(), events, 0};
            const int r = ::poll(&p, 1, ms);
            if (r > 0) {
                ec = {};
                return true; // readable/writable, or an error/hang-up the next call reports
            }
            if (r < 0 && errno != EINTR) {
                ec = beast::error_code(errno, boost::system::system_category());
                return false;
            }
        }
    }

    lowest_layer_type sock_;
    time_point deadline_ = time_point::max();
};

/// A connection for sync calls: its socket, read buffer and request bytes, reused from
/// request to request.
///
/// **Thread safety:** one call at a time (the pool hands it out exclusively); `cancel` may be
/// called from any thread (the stop callback).
class sync_connection {
public:
    sync_connection() = default;
    sync_connection(const sync_connection&) = delete;
    sync_connection& operator=(const sync_connection&) = delete;
    ~sync_connection() { close(); }

    bool is_open() const noexcept { return sock_ && sock_->lowest_layer().is_open(); }
    time_point last_used() const noexcept { return last_used_; }
    void set_last_used(time_point t) noexcept { last_used_ = t; }
    std::uint32_t requests() const noexcept { return requests_; }
    bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }
    void begin_exchange() noexcept { cancelled_.store(false, std::memory_order_relaxed); }

    /// From the stop callback: wakes the blocked `poll()` by shutting the socket down.
    void cancel_from_any_thread() noexcept {
        cancelled_.store(true, std::memory_order_release);
        std::lock_guard lock(fd_mutex_); // never shuts down a descriptor number reused elsewhere
        if (is_open())
            ::shutdown(sock_->lowest_layer().native_handle(), SHUT_RDWR);
    }

    void close() noexcept {
        std::lock_guard lock(fd_mutex_);
#if BULWARK_HTTP_TLS
        tls_.reset();
#endif
        if (sock_) {
            beast::error_code ignored;
            sock_->lowest_layer().close(ignored);
        }
    }

    /// Runs one exchange on this thread: (re)connects if needed, writes `req`, reads into `res`.
    void exchange(const http_request& req, const context& ctx, std::string_view address,
                  const exchange_settings& s, http_response& res, exchange_result& out) {
        out = {};
        if (!write_request(out_, req, ctx, address, s.user_agent)) {
            out.invalid = true;
            return;
        }
        const time_point deadline =
            ctx.has_deadline() ? ctx.deadline()
                               : saturating_add(std::chrono::steady_clock::now(), s.io_timeout);
        for (int round = 0; round < 2; ++round) {
            const bool reused = is_open();
            beast::error_code ec;
            if (!reused) {
                connect(address, deadline, s, ec);
                if (ec) {
                    finish_error(ec, out);
                    return;
                }
            }
            sock_->set_deadline(deadline);
            with_stream([&](auto& st) {
                net::write(st, net::buffer(out_), ec);
                if (!ec && !req.body.empty())
                    net::write(st, net::const_buffer(req.body.data(), req.body.size()), ec);
            });
            res.status = 0;
            res.headers.clear();
            res.body.clear();
            http_response_reader reader(res, s.body_limit, s.header_limit);
            if (!ec)
                with_stream([&](auto& st) { beast::http::read(st, buffer_, reader, ec); });
            if (!ec) {
                ++requests_;
                out.reusable = reader.keep_alive() && !reader.need_eof() && !cancelled();
                if (!out.reusable)
                    close();
                return;
            }
            const bool stale = reused && !reader.got_some() && !cancelled() &&
                               ec != beast::error::timeout && is_idempotent(req.method);
            close();
            if (!stale || round == 1) {
                finish_error(ec, out);
                return;
            }
        }
    }

private:
    void finish_error(beast::error_code ec, exchange_result& out) {
        out.ec = ec;
        out.cancelled = cancelled();
        close();
    }

    template <class F>
    void with_stream(F&& f) {
#if BULWARK_HTTP_TLS
        if (tls_) {
            f(*tls_);
            return;
        }
#endif
        f(*sock_);
    }

    void connect(std::string_view address, time_point deadline, const exchange_settings& s,
                 beast::error_code& ec) {
        requests_ = 0;
        buffer_.clear();
        const auto hp = split_address(address);
        if (!hp) {
            ec = net::error::invalid_argument;
            return;
        }
        {
            std::lock_guard lock(fd_mutex_);
#if BULWARK_HTTP_TLS
            tls_.reset();
#endif
            sock_.emplace(ioc_);
        }
        sock_->set_deadline(deadline);
        beast::error_code aec;
        const auto ip = net::ip::make_address(std::string(hp->host), aec);
        if (!aec) {
            sock_->connect({ip, hp->port}, ec);
        } else { // a host name: resolved by the system resolver (cold; not bounded by the deadline)
            net::ip::tcp::resolver resolver(ioc_);
            const auto results = resolver.resolve(hp->host, std::to_string(hp->port), ec);
            if (ec)
                return;
            ec = net::error::host_not_found;
            for (const auto& r : results) {
                sock_.emplace(ioc_);
                sock_->set_deadline(deadline);
                sock_->connect(r.endpoint(), ec);
                if (!ec || ec == beast::error::timeout)
                    break;
            }
        }
        if (ec || cancelled()) {
            if (!ec)
                ec = net::error::operation_aborted;
            return;
        }
#if BULWARK_HTTP_TLS
        if (s.tls != nullptr) {
            {
                std::lock_guard lock(fd_mutex_);
                tls_.emplace(*sock_, *s.tls);
            }
            const std::string host(hp->host);
            if (!::SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str())) {
                ec = beast::error_code(static_cast<int>(::ERR_get_error()),
                                       net::error::get_ssl_category());
                return;
            }
            if (s.verify_host)
                tls_->set_verify_callback(net::ssl::host_name_verification(host));
            tls_->handshake(net::ssl::stream_base::client, ec);
        }
#else
        (void)s;
#endif
    }

    net::io_context ioc_{1}; // only owns the socket's service; never run
    std::optional<deadline_socket> sock_;
#if BULWARK_HTTP_TLS
    std::optional<net::ssl::stream<deadline_socket&>> tls_;
#endif
    beast::flat_buffer buffer_;
    std::string out_;
    time_point last_used_{};
    std::uint32_t requests_ = 0;
    std::atomic<bool> cancelled_{false};
    std::mutex fd_mutex_;
};

} // namespace bulwark::detail
