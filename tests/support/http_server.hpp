#pragma once
// A fault-injecting HTTP/1.1 test server (Boost.Beast, synchronous, one thread per connection),
// bound to 127.0.0.1 on a free port and run inside the test process.
//
//   bulwark::test::http_server srv;                       // 200 "ok" to everything
//   srv.set_handler([](const bulwark::test::request_info& r) {
//       return r.index % 2 ? reply::status(503, "1") : reply::ok("hi"); });
//   ... srv.address() is "127.0.0.1:<port>" ...
//
// Faults per request: a status (503 with or without Retry-After, 429, ...), a delay (the server
// watches the socket meanwhile and gives up when the client goes away), a connection reset
// (SO_LINGER 0), a truncated body, slowloris-style partial headers, a close before the
// response. Counters: connections accepted and closed, requests, clients that left while the
// server delayed or stalled (a cancelled socket seen from the server side).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#if BULWARK_HTTP_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#endif

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bulwark::test {

/// What the server knows about a request when it decides the reply.
struct request_info {
    std::size_t index = 0; // 0-based, over all connections
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers; // names lower-cased
    std::string body;
};

/// The server's answer to one request.
struct reply {
    enum class fault {
        none,           // answer normally (after `delay`, if any)
        reset,          // RST: SO_LINGER 0 and close, no response
        close,          // close without a response
        truncated_body, // Content-Length larger than the bytes sent, then close
        partial_headers // a status line and half a header, then stall (slowloris)
    };
    unsigned status = 200;
    std::string body = "ok";
    std::string retry_after{}; // Retry-After header when not empty
    std::chrono::milliseconds delay{0};
    fault kind = fault::none;
    bool close_after = false; // Connection: close
    bool drop_after = false;  // answer as keep-alive, then close silently (a stale pooled socket)

    static reply ok(std::string b = "ok") { return reply{200, std::move(b)}; }
    static reply status_of(unsigned s, std::string retry_after = {}) {
        reply r{s, "status " + std::to_string(s)};
        r.retry_after = std::move(retry_after);
        return r;
    }
    static reply slow(std::chrono::milliseconds d, std::string b = "slow") {
        reply r{200, std::move(b)};
        r.delay = d;
        return r;
    }
    static reply with(fault f) {
        reply r;
        r.kind = f;
        return r;
    }
};

/// TLS when both are set (needs BULWARK_HTTP_TLS).
struct http_server_options {
    std::string cert_pem{};
    std::string key_pem{};
};

class http_server {
public:
    using options = http_server_options;
    using handler = std::function<reply(const request_info&)>;

    explicit http_server(
        handler h = [](const request_info&) { return reply::ok(); }, options o = {})
        : handler_(std::move(h))
        , acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
#if BULWARK_HTTP_TLS
        if (!o.cert_pem.empty()) {
            tls_ =
                std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
            tls_->use_certificate_chain(boost::asio::buffer(o.cert_pem));
            tls_->use_private_key(boost::asio::buffer(o.key_pem), boost::asio::ssl::context::pem);
        }
#else
        (void)o;
#endif
        port_ = acceptor_.local_endpoint().port();
        accept_thread_ = std::thread([this] { accept_loop(); });
    }
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;
    ~http_server() {
        stop();
    }

    /// Stops accepting, wakes every session (shutdown of its socket) and joins all threads.
    void stop() {
        if (stopping_.exchange(true))
            return;
        {
            // Wake the blocking accept with a connection of our own.
            boost::asio::io_context tmp;
            boost::asio::ip::tcp::socket s(tmp);
            boost::system::error_code ec;
            s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
        }
        accept_thread_.join();
        {
            std::lock_guard lock(mutex_);
            for (int fd : live_fds_)
                ::shutdown(fd, SHUT_RDWR);
        }
        for (auto& t : sessions_)
            t.join();
    }

    void set_handler(handler h) {
        std::lock_guard lock(mutex_);
        handler_ = std::move(h);
    }

    std::uint16_t port() const noexcept {
        return port_;
    }
    std::string address() const {
        return "127.0.0.1:" + std::to_string(port_);
    }

    std::size_t accepted() const noexcept {
        return accepted_.load();
    }
    std::size_t closed() const noexcept {
        return closed_.load();
    }
    /// Connections the server holds open right now.
    std::size_t open() const noexcept {
        return accepted_.load() - closed_.load();
    }
    std::size_t requests() const noexcept {
        return requests_.load();
    }
    /// Requests whose client closed the connection while the server delayed or stalled.
    std::size_t abandoned() const noexcept {
        return abandoned_.load();
    }

    /// The last request seen (its headers, to check what the client sent).
    request_info last_request() const {
        std::lock_guard lock(mutex_);
        return last_;
    }

private:
    using tcp = boost::asio::ip::tcp;

    void accept_loop() {
        for (;;) {
            tcp::socket sock(ioc_);
            boost::system::error_code ec;
            acceptor_.accept(sock, ec);
            if (stopping_.load())
                return;
            if (ec)
                continue;
            ++accepted_;
            std::lock_guard lock(mutex_);
            live_fds_.insert(sock.native_handle());
            sessions_.emplace_back(
                [this, s = std::make_shared<tcp::socket>(std::move(sock))] { session(*s); });
        }
    }

    // Waits up to `d` for the client to go away (readable with 0 bytes, or an error). Returns true
    // when it left. Any request bytes it sent meanwhile stay unread (it pipelines nothing).
    bool client_left_within(int fd, std::chrono::milliseconds d) {
        const auto until = std::chrono::steady_clock::now() + d;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0 || stopping_.load())
                return stopping_.load();
            pollfd p{fd, POLLIN, 0};
            const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 50)));
            if (n > 0) {
                char c;
                const auto got = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
                if (got <= 0)
                    return true;
            }
        }
    }

    template <class Stream>
    void serve(Stream& stream, tcp::socket& sock) {
        namespace http = boost::beast::http;
        boost::beast::flat_buffer buf;
        const int fd = sock.native_handle();
        for (;;) {
            http::request<http::string_body> req;
            boost::system::error_code ec;
            http::read(stream, buf, req, ec);
            if (ec)
                return;
            request_info info;
            info.index = requests_++;
            info.method = std::string(req.method_string());
            info.target = std::string(req.target());
            info.body = req.body();
            for (const auto& f : req) {
                std::string name(f.name_string());
                for (char& ch : name)
                    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                info.headers[name] = std::string(f.value());
            }
            handler h;
            {
                std::lock_guard lock(mutex_);
                last_ = info;
                h = handler_;
            }
            const reply r = h(info);
            if (r.delay.count() > 0 && client_left_within(fd, r.delay)) {
                ++abandoned_;
                return;
            }
            switch (r.kind) {
            case reply::fault::reset:
                sock.set_option(boost::asio::socket_base::linger(true, 0), ec);
                sock.close(ec);
                return;
            case reply::fault::close:
                return;
            case reply::fault::truncated_body: {
                const std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: "
                                        "text/plain\r\n\r\nonly "
                                        "a part";
                boost::asio::write(stream, boost::asio::buffer(raw), ec);
                return;
            }
            case reply::fault::partial_headers: {
                const std::string raw = "HTTP/1.1 200 OK\r\nContent-Ty";
                boost::asio::write(stream, boost::asio::buffer(raw), ec);
                if (client_left_within(fd, std::chrono::seconds{60}))
                    ++abandoned_;
                return;
            }
            case reply::fault::none:
                break;
            }
            http::response<http::string_body> res{static_cast<http::status>(r.status),
                                                  req.version()};
            res.set(http::field::content_type, "text/plain");
            if (!r.retry_after.empty())
                res.set(http::field::retry_after, r.retry_after);
            res.keep_alive(req.keep_alive() && !r.close_after);
            if (r.status != 204 && r.status != 304 && r.status >= 200)
                res.body() = r.body; // those statuses have no body
            res.prepare_payload();
            http::write(stream, res, ec);
            if (ec || !res.keep_alive() || r.drop_after)
                return;
        }
    }

    void session(tcp::socket& sock) {
        const int fd = sock.native_handle();
#if BULWARK_HTTP_TLS
        if (tls_) {
            boost::asio::ssl::stream<tcp::socket&> s(sock, *tls_);
            boost::system::error_code ec;
            s.handshake(boost::asio::ssl::stream_base::server, ec);
            if (!ec)
                serve(s, sock);
        } else {
            serve(sock, sock);
        }
#else
        serve(sock, sock);
#endif
        {
            // Forget the descriptor before closing it: the number may be reused at once.
            std::lock_guard lock(mutex_);
            live_fds_.erase(fd);
        }
        boost::system::error_code ec;
        if (sock.is_open()) {
            sock.shutdown(tcp::socket::shutdown_both, ec);
            sock.close(ec);
        }
        ++closed_;
    }

    handler handler_;
    boost::asio::io_context ioc_;
    tcp::acceptor acceptor_;
#if BULWARK_HTTP_TLS
    std::unique_ptr<boost::asio::ssl::context> tls_;
#endif
    std::uint16_t port_ = 0;
    std::thread accept_thread_;
    std::vector<std::thread> sessions_;
    std::set<int> live_fds_;
    mutable std::mutex mutex_;
    request_info last_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> accepted_{0}, closed_{0}, requests_{0}, abandoned_{0};
};

} // namespace bulwark::test
