#pragma once
/// \file
/// What a saga persists after every step (`saga_record`), the `saga_store` concept, and the
/// in-memory store. The SQLite and JetStream key-value stores live beside it
/// (`saga/sqlite_store.hpp`, `saga/jetstream_store.hpp`).

#include <bulwark/core/error.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/eventsource/event_store.hpp> // concurrency_conflict, store_error

#include <charconv>
#include <concepts>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark {

/// Where a saga stands.
enum class saga_status : std::uint8_t {
    running = 1,      ///< steps are being run; `completed_steps` of them are done
    compensating = 2, ///< a step failed; the completed ones are being undone in reverse order
    completed = 3,    ///< every step succeeded
    compensated = 4,  ///< a step failed and every completed step was compensated
    parked = 5,       ///< a compensation kept failing: an operator must look (`retry_parked`)
};

/// The text of a status ("running", ...).
inline constexpr std::string_view to_string(saga_status s) noexcept {
    switch (s) {
    case saga_status::running:
        return "running";
    case saga_status::compensating:
        return "compensating";
    case saga_status::completed:
        return "completed";
    case saga_status::compensated:
        return "compensated";
    case saga_status::parked:
        return "parked";
    }
    return "unknown";
}

/// True while a saga still has work to do after a restart.
inline constexpr bool is_unfinished(saga_status s) noexcept {
    return s == saga_status::running || s == saga_status::compensating;
}

/// Values the steps of one saga share (a payment id for the refund, ...); persisted with the
/// saga after every step, so a resumed saga sees what the steps before the crash stored.
using saga_data = std::map<std::string, std::string, std::less<>>;

/// A saga's progress as its store keeps it.
struct saga_record {
    std::string id{};   ///< the saga instance (an order id, ...)
    std::string name{}; ///< the saga definition it belongs to (`saga_options::name`)
    saga_status status = saga_status::running;
    std::uint32_t completed_steps = 0; ///< running: steps done; compensating: steps still to undo
    std::uint32_t failed_step = 0;     ///< 1-based index of the step that failed (0: none)
    std::string error{};               ///< why it failed or parked (text)
    saga_data data{};
    std::int64_t deadline_ns = 0; ///< saga deadline on the saga's clock (0: none)
    std::uint64_t revision = 0;   ///< incremented at each save: optimistic concurrency
};

/// A store of saga records.
///
/// - `save(record)`: stores `record` if the stored revision is `record.revision - 1` (or there is
///   none and `record.revision == 1`); else fails with `concurrency_conflict` (another process
///   took the saga over).
/// - `load(id)`: the record, if any.
/// - `list(status)`: every record in that status (`unfinished()` = running + compensating).
template <class S>
concept saga_store = requires(S& s, const saga_record& r, std::string_view id, saga_status st) {
    { s.save(r) } -> std::same_as<outcome<void>>;
    { s.load(id) } -> std::same_as<outcome<std::optional<saga_record>>>;
    { s.list(st) } -> std::same_as<outcome<std::vector<saga_record>>>;
};

namespace detail {

inline failure saga_conflict(const saga_record& r, std::uint64_t stored) {
    return failure{errc::rejected, std::make_exception_ptr(concurrency_conflict(
                                       "saga/" + r.id, r.revision - 1, stored))};
}

/// `saga_data` as text: `<len>:<key><len>:<value>...` (binary-safe).
inline std::string encode_saga_data(const saga_data& d) {
    std::string out;
    for (const auto& [k, v] : d) {
        out += std::to_string(k.size()) + ":" + k;
        out += std::to_string(v.size()) + ":" + v;
    }
    return out;
}
inline std::optional<saga_data> decode_saga_data(std::string_view s) {
    saga_data d;
    auto next = [&](std::string& out) {
        auto colon = s.find(':');
        if (colon == std::string_view::npos)
            return false;
        std::size_t n = 0;
        auto r = std::from_chars(s.data(), s.data() + colon, n);
        if (r.ec != std::errc{} || r.ptr != s.data() + colon || s.size() - colon - 1 < n)
            return false;
        out.assign(s.substr(colon + 1, n));
        s.remove_prefix(colon + 1 + n);
        return true;
    };
    while (!s.empty()) {
        std::string k, v;
        if (!next(k) || !next(v))
            return std::nullopt;
        d.emplace(std::move(k), std::move(v));
    }
    return d;
}

} // namespace detail

/// Saga records in memory (tests; sagas that need not survive the process).
///
/// **Thread safety:** all members are thread-safe.
class memory_saga_store {
public:
    outcome<void> save(const saga_record& r) {
        std::lock_guard lock(mutex_);
        auto it = records_.find(r.id);
        const std::uint64_t stored = it == records_.end() ? 0 : it->second.revision;
        if (stored + 1 != r.revision)
            return detail::saga_conflict(r, stored);
        records_[r.id] = r;
        return outcome<void>::success();
    }
    outcome<std::optional<saga_record>> load(std::string_view id) {
        std::lock_guard lock(mutex_);
        auto it = records_.find(id);
        if (it == records_.end())
            return std::optional<saga_record>{};
        return std::optional<saga_record>{it->second};
    }
    outcome<std::vector<saga_record>> list(saga_status s) {
        std::lock_guard lock(mutex_);
        std::vector<saga_record> out;
        for (const auto& [id, r] : records_)
            if (r.status == s)
                out.push_back(r);
        return out;
    }

private:
    std::mutex mutex_;
    std::map<std::string, saga_record, std::less<>> records_;
};

static_assert(saga_store<memory_saga_store>);

} // namespace bulwark
