#pragma once
/// \file
/// What every exchange needs: the response parser (straight into `http_response`), request
/// serialization into a reused buffer, address parsing and header checks.

#include <bulwark/core/context.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/transport/http/message.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#if BULWARK_HTTP_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
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
    bool cancelled = false; // a stop request closed the socket
    bool reusable = false;  // the connection may go back to the pool
    bool invalid = false;   // the request itself was malformed (nothing sent)
};

/// `beast::error::timeout`, the code an exchange reports when its deadline passed.
using beast_error = beast::error;

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

/// Serializes the request line and headers into `out` (reused, so no allocation once warm).
inline bool write_request(std::string& out, const http_request& req, const context& ctx,
                          std::string_view address, std::string_view user_agent) {
    bool ok = header_safe(req.target) && header_safe(req.host) && header_safe(req.content_type) &&
              !req.target.empty();
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

} // namespace bulwark::detail
