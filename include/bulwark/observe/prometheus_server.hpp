#pragma once
/// \file
/// A tiny loopback HTTP endpoint for Prometheus scrapes, on Boost.Asio (header-only): serves
/// `GET /metrics` with the text exposition of a `metrics_registry` from its own thread.
///
/// ```cpp
/// bulwark::metrics_registry metrics;
/// bulwark::prometheus_server server(metrics, {.port = 9464});   // 127.0.0.1:9464/metrics
/// ```
/// For anything beyond a scrape endpoint (TLS, auth, other routes) serve
/// `bulwark::to_prometheus(metrics)` from your own server instead.

#include <bulwark/detail/validate.hpp>
#include <bulwark/observe/metrics.hpp>
#include <bulwark/observe/prometheus.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace bulwark {

/// Settings of a `prometheus_server`.
struct prometheus_server_options {
    /// The address to listen on: loopback by default (expose it wider on purpose, behind your
    /// own network policy).
    std::string address = "127.0.0.1";
    /// The port (0 = any free port; read it back with `port()`).
    std::uint16_t port = 0;
    /// The path that serves the metrics.
    std::string path = "/metrics";
};

/// Serves the Prometheus text exposition over HTTP/1.1 on one background thread.
///
/// **Failure semantics:** a bad address throws `invalid_argument_error`; a port in use throws
/// `boost::system::system_error` from the constructor. Requests other than `GET <path>` get 404
/// (405 for another method on the path); each connection serves one request and closes.
/// **Thread safety:** construction and destruction on one thread; the body is built on the
/// server thread from a fresh snapshot (counters are read lock-free).
/// **Allocation:** per scrape (cold path), never on the metrics hot path.
class prometheus_server {
public:
    /// Serves `to_prometheus(registry)`; the registry must outlive the server.
    prometheus_server(const metrics_registry& registry, prometheus_server_options o = {})
        : prometheus_server([&registry] { return to_prometheus(registry); }, std::move(o)) {}

    /// Serves whatever `body()` returns (your own exposition, or several registries').
    prometheus_server(std::function<std::string()> body, prometheus_server_options o = {})
        : body_(std::move(body))
        , path_(std::move(o.path))
        , acceptor_(io_) {
        boost::system::error_code ec;
        const auto addr = boost::asio::ip::make_address(o.address, ec);
        detail::require(!ec, "prometheus_server", "address", "an IP address", o.address);
        const boost::asio::ip::tcp::endpoint ep(addr, o.port);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }

    prometheus_server(const prometheus_server&) = delete;
    prometheus_server& operator=(const prometheus_server&) = delete;

    /// Stops accepting, closes open connections and joins the server thread.
    ~prometheus_server() {
        boost::asio::post(io_, [this] {
            boost::system::error_code ignored;
            acceptor_.close(ignored);
        });
        io_.stop();
        if (thread_.joinable())
            thread_.join();
    }

    /// The port it listens on.
    std::uint16_t port() const noexcept { return port_; }

private:
    struct connection : std::enable_shared_from_this<connection> {
        explicit connection(boost::asio::ip::tcp::socket s)
            : socket(std::move(s)) {}
        boost::asio::ip::tcp::socket socket;
        boost::asio::streambuf request;
        std::string response;
    };

    void accept() {
        acceptor_.async_accept(
            [this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
                if (ec)
                    return; // closed
                auto c = std::make_shared<connection>(std::move(socket));
                boost::asio::async_read_until(
                    c->socket, c->request, "\r\n\r\n",
                    [this, c](boost::system::error_code rec, std::size_t) {
                        if (rec)
                            return;
                        respond(*c);
                        boost::asio::async_write(
                            c->socket, boost::asio::buffer(c->response),
                            [c](boost::system::error_code, std::size_t) {
                                boost::system::error_code ignored;
                                c->socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both,
                                                   ignored);
                            });
                    });
                accept();
            });
    }

    void respond(connection& c) {
        std::string line;
        {
            std::istream in(&c.request);
            std::getline(in, line);
        }
        // "GET /metrics HTTP/1.1" (a query string is ignored)
        const auto sp1 = line.find(' ');
        const auto sp2 = line.find(' ', sp1 + 1);
        const std::string method = line.substr(0, sp1);
        std::string target = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
        if (auto q = target.find('?'); q != std::string::npos)
            target.resize(q);
        std::string status = "200 OK", type(prometheus_content_type), body;
        if (target != path_) {
            status = "404 Not Found";
            type = "text/plain";
            body = "not found\n";
        } else if (method != "GET" && method != "HEAD") {
            status = "405 Method Not Allowed";
            type = "text/plain";
            body = "use GET\n";
        } else {
            try {
                body = body_();
            } catch (const std::exception& e) {
                status = "500 Internal Server Error";
                type = "text/plain";
                body = std::string(e.what()) + "\n";
            }
        }
        c.response = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                     "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n";
        if (method != "HEAD")
            c.response += body;
    }

    std::function<std::string()> body_;
    std::string path_;
    boost::asio::io_context io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

} // namespace bulwark
