#pragma once
/// \file
/// `memory_event_store`: an event store (and outbox) in memory, for tests and for single-process
/// programs that need no durability. Same rules as the durable stores, so the store law tests
/// run against it too.

#include <bulwark/eventsource/event_store.hpp>
#include <bulwark/eventsource/outbox.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace bulwark {

/// An event store in memory.
///
/// **Failure semantics:** as `event_store`; never fails except for bad arguments and conflicts.
/// An append with an outbox subject enqueues one outbox message per event under the same lock
/// (all or nothing, like the SQLite store's transaction).
/// **Thread safety:** all members are thread-safe (one mutex). **Allocation:** copies of events.
class memory_event_store {
public:
    memory_event_store() = default;
    memory_event_store(const memory_event_store&) = delete;
    memory_event_store& operator=(const memory_event_store&) = delete;

    /// Appends `events` at `expected` (see `event_store`).
    outcome<append_result> append(std::string_view stream, std::span<const event_data> events,
                                  stream_version expected) {
        return append(stream, events, expected, {});
    }
    /// Appends `events` and, when `outbox_subject` is not empty, enqueues one outbox message per
    /// event to that subject — both or neither.
    outcome<append_result> append(std::string_view stream, std::span<const event_data> events,
                                  stream_version expected, std::string_view outbox_subject) {
        if (auto bad = detail::check_append_args(stream, events))
            return *bad;
        std::lock_guard lock(mutex_);
        auto& idx = streams_[std::string(stream)];
        const stream_version current = idx.size();
        if (expected != expected_version::any && expected != current) {
            if (expected < current) {
                std::vector<std::string> ids;
                for (std::size_t i = expected; i < current && ids.size() < events.size(); ++i)
                    ids.push_back(log_[idx[i]].id);
                if (detail::is_retry_of(ids, events)) {
                    const auto& last = log_[idx[expected + events.size() - 1]];
                    return append_result{expected + 1, last.version, last.position, true};
                }
            }
            return make_conflict(std::string(stream), expected, current);
        }
        if (expected == expected_version::any && !events.empty()) {
            // Best effort idempotency without an expected version: the same first id at the
            // stream's end is taken as a retry.
            for (std::size_t i = 0; i < current; ++i)
                if (log_[idx[i]].id == events.front().id) {
                    std::vector<std::string> ids;
                    for (std::size_t j = i; j < current && ids.size() < events.size(); ++j)
                        ids.push_back(log_[idx[j]].id);
                    if (detail::is_retry_of(ids, events)) {
                        const auto& last = log_[idx[i + events.size() - 1]];
                        return append_result{i + 1, last.version, last.position, true};
                    }
                    return make_conflict(std::string(stream), expected, current);
                }
        }
        append_result r{current + 1, current, log_.size(), false};
        for (const auto& e : events) {
            recorded_event rec{std::string(stream), ++r.last_version, log_.size() + 1, e.id, e.type,
                               e.payload,           e.metadata};
            idx.push_back(log_.size());
            log_.push_back(std::move(rec));
            if (!outbox_subject.empty())
                outbox_.push_back(outbox_message{outbox_.size() + 1, e.id,
                                                 std::string(outbox_subject), e.type,
                                                 std::string(stream), r.last_version, e.payload});
        }
        r.last_position = log_.size();
        if (events.empty())
            r.first_version = 0;
        return r;
    }

    /// The events of `stream` from version `from` on.
    outcome<std::vector<recorded_event>> read(std::string_view stream, stream_version from) const {
        std::lock_guard lock(mutex_);
        std::vector<recorded_event> out;
        auto it = streams_.find(std::string(stream));
        if (it == streams_.end())
            return out;
        for (std::size_t i = from == 0 ? 0 : from - 1; i < it->second.size(); ++i)
            out.push_back(log_[it->second[i]]);
        return out;
    }

    /// Every stream's events with position > `after`, at most `max`.
    outcome<std::vector<recorded_event>> read_all(std::uint64_t after, std::size_t max) const {
        std::lock_guard lock(mutex_);
        std::vector<recorded_event> out;
        for (std::size_t i = after; i < log_.size() && out.size() < max; ++i)
            out.push_back(log_[i]);
        return out;
    }

    /// The current version of `stream` (0 when it has no event).
    outcome<stream_version> version(std::string_view stream) const {
        std::lock_guard lock(mutex_);
        auto it = streams_.find(std::string(stream));
        return stream_version{it == streams_.end() ? 0 : it->second.size()};
    }

    /// Keeps `s` as the latest snapshot of its stream (an older version never replaces a newer).
    outcome<void> save_snapshot(const snapshot& s) {
        std::lock_guard lock(mutex_);
        auto& slot = snapshots_[s.stream];
        if (slot.stream.empty() || slot.version <= s.version)
            slot = s;
        return outcome<void>::success();
    }
    /// The latest snapshot of `stream`, if any.
    outcome<std::optional<snapshot>> load_snapshot(std::string_view stream) const {
        std::lock_guard lock(mutex_);
        auto it = snapshots_.find(std::string(stream));
        if (it == snapshots_.end())
            return std::optional<snapshot>{};
        return std::optional<snapshot>{it->second};
    }

    // ---- outbox (see outbox.hpp) --------------------------------------------------------------

    /// Up to `max` unsent outbox messages, oldest first.
    outcome<std::vector<outbox_message>> pending_outbox(std::size_t max) const {
        std::lock_guard lock(mutex_);
        std::vector<outbox_message> out;
        for (const auto& m : outbox_)
            if (!sent_.contains(m.position) && out.size() < max)
                out.push_back(m);
        return out;
    }
    /// Marks outbox messages as published.
    outcome<void> mark_sent(std::span<const std::uint64_t> positions) {
        std::lock_guard lock(mutex_);
        for (auto p : positions)
            sent_[p] = true;
        return outcome<void>::success();
    }

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::vector<std::size_t>> streams_; // indexes into log_
    std::vector<recorded_event> log_;
    std::unordered_map<std::string, snapshot> snapshots_;
    std::vector<outbox_message> outbox_;
    std::map<std::uint64_t, bool> sent_;
};

static_assert(event_store<memory_event_store>);

} // namespace bulwark
