#pragma once
/// \file
/// The HTTP transport's request and response values, the status classifier hook and the error a
/// failing status is reported with.

#include <bulwark/core/error.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/detail/enum_text.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace bulwark {

/// HTTP request methods (RFC 9110 §9).
enum class http_method { get, head, post, put, patch, del, options };

/// The method's token on the wire.
constexpr std::string_view to_string(http_method m) noexcept {
    switch (m) {
    case http_method::get:
        return "GET";
    case http_method::head:
        return "HEAD";
    case http_method::post:
        return "POST";
    case http_method::put:
        return "PUT";
    case http_method::patch:
        return "PATCH";
    case http_method::del:
        return "DELETE";
    case http_method::options:
        return "OPTIONS";
    }
    return "GET";
}

/// Idempotent methods (RFC 9110 §9.2.2): the transport re-sends only these on a fresh connection
/// when a reused keep-alive connection turns out to be dead before any response byte arrived.
constexpr bool is_idempotent(http_method m) noexcept {
    return m != http_method::post && m != http_method::patch;
}

/// One HTTP/1.1 request. It does not own its target and body (views): the caller keeps them
/// alive during the call, so building a request allocates nothing.
///
/// The transport adds `Host` (the endpoint's address unless `host` is set), `Content-Length`,
/// `Connection: keep-alive` and the context's `correlation-id` and `traceparent` headers.
/// **Failure semantics:** a header name or value with CR, LF or NUL (request splitting) fails
/// the call with `errc::invalid_argument` before anything is sent.
struct http_request {
    http_method method = http_method::get; ///< the method
    std::string_view target = "/";         ///< origin-form target: path and query
    std::string_view body{};               ///< the body (sent with Content-Length)
    std::string_view content_type{};       ///< Content-Type, when there is a body
    std::string_view host{};               ///< Host header (default: the endpoint's address)
    header_map headers{};                  ///< extra headers
};

/// One HTTP response.
///
/// **Allocation:** `body` is a `std::string` (bodies up to 15 bytes stay inline); `headers` keep
/// up to 8 headers / 256 bytes inline and spill to the heap beyond.
struct http_response {
    unsigned status = 0;  ///< status code (200, 503, ...)
    header_map headers{}; ///< response headers (names as received, looked up case-insensitively)
    std::string body{};   ///< the body (a chunked body is de-chunked)
};

/// The default status classification: 5xx, 429 (Too Many Requests) and 408 (Request Timeout) are
/// failures (Microsoft.Extensions.Http.Resilience's standard handler; Envoy's `5xx`
/// retry class), anything else is a response the caller gets as a value.
struct http_status_failures {
    constexpr bool operator()(unsigned status) const noexcept {
        return status >= 500 || status == 429 || status == 408;
    }
};

/// The failure of a call whose status the classifier called a failure: it carries the status
/// and the whole response (the body of a 503 often says why). Its code is
/// `errc::transport_error`, so bulwark's policies treat it as any transport failure; the
/// pipeline's throwing entry points rethrow it as this type.
class http_status_error : public resilience_error {
public:
    http_status_error(http_response r, duration retry_after)
        : resilience_error(errc::transport_error, "HTTP status " + std::to_string(r.status),
                           retry_after)
        , response_(std::move(r)) {}
    /// The status code.
    unsigned status() const noexcept { return response_.status; }
    /// The response as received.
    const http_response& response() const noexcept { return response_; }

private:
    http_response response_;
};

/// The HTTP status a failure carries, or 0 when it is not an `http_status_error`.
/// **Complexity:** cold (rethrows to inspect the exception).
inline unsigned http_status_of(const failure& f) noexcept {
    if (!f.exception)
        return 0;
    try {
        std::rethrow_exception(f.exception);
    } catch (const http_status_error& e) {
        return e.status();
    } catch (...) {
        return 0;
    }
}

} // namespace bulwark
