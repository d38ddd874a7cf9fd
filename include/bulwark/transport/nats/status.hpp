#pragma once
/// \file
/// Internal: cnats status codes as bulwark failures, RAII owners of cnats objects, and header
/// copying between `header_map` and `natsMsg`.

#include <bulwark/core/error.hpp>
#include <bulwark/core/headers.hpp>
#include <bulwark/core/time.hpp>

#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

namespace bulwark::detail::nats {

/// The bulwark code of a cnats status.
inline errc code_of(natsStatus s) noexcept {
    switch (s) {
    case NATS_NO_RESPONDERS:
        return errc::no_responders;
    case NATS_TIMEOUT:
        return errc::timeout;
    case NATS_CONNECTION_CLOSED:
    case NATS_DRAINING:
        return errc::channel_closed;
    case NATS_INVALID_SUBJECT:
        return errc::invalid_subject;
    case NATS_INVALID_ARG:
        return errc::invalid_argument;
    default:
        return errc::transport_error;
    }
}

/// A failure with `code` whose text (`failure_message`, `raise`) is `text`.
inline failure make_failure(errc code, const std::string& text) {
    return failure{code, std::make_exception_ptr(resilience_error(code, text)), {}};
}

/// "bulwark::nats: <what>: <cnats text>[ (jetstream error N)]".
inline failure status_failure(natsStatus s, std::string_view what, int jerr = 0) {
    std::string text = "bulwark::nats: ";
    text.append(what).append(": ").append(natsStatus_GetText(s));
    if (jerr != 0)
        text.append(" (jetstream error ").append(std::to_string(jerr)).append(")");
    return make_failure(code_of(s), text);
}

/// `d` in whole milliseconds, rounded up, at least `floor` (cnats takes int64 ms).
inline std::int64_t to_ms(duration d, std::int64_t floor = 0) noexcept {
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
    return std::max<std::int64_t>(ms, floor);
}

/// `d` in nanoseconds (cnats config structs), saturating.
inline std::int64_t to_ns(duration d) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

/// Milliseconds from now until `deadline` (0 when it passed; ~1 year for `no_deadline`, so
/// that cnats' now + timeout cannot overflow).
inline std::int64_t ms_until(time_point deadline) noexcept {
    constexpr std::int64_t year_ms = 365LL * 24 * 3600 * 1000;
    if (deadline == no_deadline)
        return year_ms;
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= duration::zero())
        return 0;
    return std::min(to_ms(left, 1), year_ms);
}

struct msg_deleter {
    void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
/// An owned `natsMsg`.
using msg_ptr = std::unique_ptr<natsMsg, msg_deleter>;

struct options_deleter {
    void operator()(natsOptions* o) const noexcept { natsOptions_Destroy(o); }
};
using options_ptr = std::unique_ptr<natsOptions, options_deleter>;

struct stream_info_deleter {
    void operator()(jsStreamInfo* p) const noexcept { jsStreamInfo_Destroy(p); }
};
using stream_info_ptr = std::unique_ptr<jsStreamInfo, stream_info_deleter>;

struct consumer_info_deleter {
    void operator()(jsConsumerInfo* p) const noexcept { jsConsumerInfo_Destroy(p); }
};
using consumer_info_ptr = std::unique_ptr<jsConsumerInfo, consumer_info_deleter>;

struct pub_ack_deleter {
    void operator()(jsPubAck* p) const noexcept { jsPubAck_Destroy(p); }
};
using pub_ack_ptr = std::unique_ptr<jsPubAck, pub_ack_deleter>;

struct meta_deleter {
    void operator()(jsMsgMetaData* p) const noexcept { jsMsgMetaData_Destroy(p); }
};
using meta_ptr = std::unique_ptr<jsMsgMetaData, meta_deleter>;

/// A NUL-terminated copy of a `string_view` for the C API, on the stack when short.
class c_str {
public:
    explicit c_str(std::string_view s) {
        if (s.size() < sizeof small_) {
            std::copy(s.begin(), s.end(), small_);
            small_[s.size()] = '\0';
            p_ = small_;
        } else {
            big_.assign(s);
            p_ = big_.c_str();
        }
    }
    c_str(const c_str&) = delete;
    c_str& operator=(const c_str&) = delete;
    const char* get() const noexcept { return p_; }

private:
    char small_[128];
    std::string big_;
    const char* p_;
};

/// Copies `h` into the headers of `m` (names as given: cnats 3.4.1 looks headers up
/// case-sensitively, so bulwark always writes its own names in lower case).
inline natsStatus set_headers(natsMsg* m, const header_map& h) {
    natsStatus s = NATS_OK;
    h.for_each([&](std::string_view k, std::string_view v) {
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, c_str(k).get(), c_str(v).get());
    });
    return s;
}

/// Copies the headers of `m` (first value of each) into `out`.
inline void get_headers(natsMsg* m, header_map& out) {
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(m, &keys, &count) != NATS_OK || keys == nullptr)
        return;
    for (int i = 0; i < count; ++i) {
        const char* v = nullptr;
        if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK && v != nullptr)
            out.set(keys[i], v);
    }
    std::free(static_cast<void*>(keys)); // cnats mallocs the array; the strings belong to m
}

/// A `natsMsg` for `subject` with `headers` and `data`.
inline natsStatus make_msg(msg_ptr& out, std::string_view subject, std::string_view reply,
                           const header_map& headers, const void* data, int len) {
    natsMsg* m = nullptr;
    natsStatus s =
        natsMsg_Create(&m, c_str(subject).get(), reply.empty() ? nullptr : c_str(reply).get(),
                       static_cast<const char*>(data), len);
    if (s != NATS_OK)
        return s;
    out.reset(m);
    return set_headers(m, headers);
}

} // namespace bulwark::detail::nats
