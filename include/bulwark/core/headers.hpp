#pragma once
/// \file
/// `header_map`: a small map of text headers (correlation id, W3C traceparent, ...) stored inline,
/// so a call or a message with a few short headers allocates nothing.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bulwark {

/// Header names used by bulwark itself.
namespace header {
inline constexpr std::string_view correlation_id = "correlation-id";
inline constexpr std::string_view causation_id = "causation-id";
inline constexpr std::string_view message_id = "message-id";
inline constexpr std::string_view traceparent = "traceparent";
inline constexpr std::string_view tracestate = "tracestate";
} // namespace header

/// Text headers with case-insensitive (ASCII) names.
///
/// Up to `inline_entries` headers whose names and values together fit in `inline_bytes` live
/// inside the object; more spill to the heap, transparently.
/// **Complexity:** lookups are linear (header sets are small).
/// **Thread safety:** as a `std::string`. **Allocation:** none while inline.
class header_map {
public:
    static constexpr std::size_t inline_entries = 8;
    static constexpr std::size_t inline_bytes = 256;

    header_map() noexcept {} // user-provided: value-initialization must not zero the buffer
    header_map(const header_map& o) {
        o.for_each([this](auto k, auto v) { set(k, v); });
    }
    header_map& operator=(const header_map& o) {
        if (this != &o) {
            clear();
            o.for_each([this](auto k, auto v) { set(k, v); });
        }
        return *this;
    }
    header_map(header_map&&) noexcept = default;
    header_map& operator=(header_map&&) noexcept = default;

    /// Sets `name` to `value`, replacing an existing value.
    void set(std::string_view name, std::string_view value) {
        if (!heap_.empty() || !set_inline(name, value))
            set_heap(name, value);
    }

    /// The value of `name`, if present.
    std::optional<std::string_view> get(std::string_view name) const noexcept {
        if (!heap_.empty()) {
            for (const auto& [k, v] : heap_)
                if (equal(k, name))
                    return std::string_view{v};
            return std::nullopt;
        }
        for (std::size_t i = 0; i < count_; ++i)
            if (equal(key(i), name))
                return value(i);
        return std::nullopt;
    }

    bool contains(std::string_view name) const noexcept { return get(name).has_value(); }

    /// Removes `name`; returns whether it was present.
    bool erase(std::string_view name) {
        if (!heap_.empty()) {
            auto it = std::find_if(heap_.begin(), heap_.end(),
                                   [&](const auto& kv) { return equal(kv.first, name); });
            if (it == heap_.end())
                return false;
            heap_.erase(it);
            return true;
        }
        for (std::size_t i = 0; i < count_; ++i) {
            if (equal(key(i), name)) {
                std::move(entries_.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                          entries_.begin() + static_cast<std::ptrdiff_t>(count_),
                          entries_.begin() + static_cast<std::ptrdiff_t>(i));
                --count_;
                return true;
            }
        }
        return false;
    }

    std::size_t size() const noexcept { return heap_.empty() ? count_ : heap_.size(); }
    bool empty() const noexcept { return size() == 0; }
    void clear() noexcept {
        count_ = 0;
        used_ = 0;
        heap_.clear();
    }

    /// Calls `f(name, value)` for each header, in insertion order.
    template <class F>
    void for_each(F&& f) const {
        if (!heap_.empty()) {
            for (const auto& [k, v] : heap_)
                f(std::string_view{k}, std::string_view{v});
            return;
        }
        for (std::size_t i = 0; i < count_; ++i)
            f(key(i), value(i));
    }

    friend bool operator==(const header_map& a, const header_map& b) {
        if (a.size() != b.size())
            return false;
        bool same = true;
        a.for_each([&](auto k, auto v) { same = same && b.get(k) == v; });
        return same;
    }

private:
    struct entry {
        std::uint16_t key_off, key_len, val_off, val_len;
    };

    static bool equal(std::string_view a, std::string_view b) noexcept {
        if (a.size() != b.size())
            return false;
        for (std::size_t i = 0; i < a.size(); ++i) {
            auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
            if (lower(a[i]) != lower(b[i]))
                return false;
        }
        return true;
    }
    std::string_view key(std::size_t i) const noexcept {
        return {buf_.data() + entries_[i].key_off, entries_[i].key_len};
    }
    std::string_view value(std::size_t i) const noexcept {
        return {buf_.data() + entries_[i].val_off, entries_[i].val_len};
    }

    bool set_inline(std::string_view name, std::string_view val) {
        std::size_t slot = count_;
        for (std::size_t i = 0; i < count_; ++i)
            if (equal(key(i), name))
                slot = i;
        if (slot == count_ && count_ == inline_entries)
            return false;
        if (used_ + name.size() + val.size() > inline_bytes) {
            // Decide before touching anything: when even a compacted buffer cannot hold the new
            // value, the old one must stay intact so the spill to the heap replaces it in place
            // (blanking it first left a phantom header with an empty name, issue 9).
            std::size_t live = 0;
            for (std::size_t i = 0; i < count_; ++i)
                if (i != slot)
                    live += std::size_t{entries_[i].key_len} + entries_[i].val_len;
            if (live + name.size() + val.size() > inline_bytes)
                return false;
            compact(slot);
        }
        entry e{static_cast<std::uint16_t>(used_), static_cast<std::uint16_t>(name.size()), 0,
                static_cast<std::uint16_t>(val.size())};
        std::memcpy(buf_.data() + used_, name.data(), name.size());
        used_ += name.size();
        e.val_off = static_cast<std::uint16_t>(used_);
        std::memcpy(buf_.data() + used_, val.data(), val.size());
        used_ += val.size();
        if (slot < count_) {
            entries_[slot] = e;
        } else {
            entries_[count_++] = e;
        }
        return true;
    }

    /// Packs live bytes to the front, leaving out entry `skip` (about to be replaced).
    void compact(std::size_t skip) {
        std::array<char, inline_bytes> packed;
        std::size_t at = 0;
        for (std::size_t i = 0; i < count_; ++i) {
            if (i == skip) {
                entries_[i] = entry{0, 0, 0, 0};
                continue;
            }
            auto k = key(i), v = value(i);
            std::memcpy(packed.data() + at, k.data(), k.size());
            entries_[i].key_off = static_cast<std::uint16_t>(at);
            at += k.size();
            std::memcpy(packed.data() + at, v.data(), v.size());
            entries_[i].val_off = static_cast<std::uint16_t>(at);
            at += v.size();
        }
        buf_ = packed;
        used_ = at;
    }

    void set_heap(std::string_view name, std::string_view val) {
        if (heap_.empty()) {
            heap_.reserve(count_ + 1);
            for (std::size_t i = 0; i < count_; ++i)
                heap_.emplace_back(std::string{key(i)}, std::string{value(i)});
            count_ = 0;
            used_ = 0;
        }
        for (auto& [k, v] : heap_) {
            if (equal(k, name)) {
                v.assign(val);
                return;
            }
        }
        heap_.emplace_back(std::string{name}, std::string{val});
    }

    std::array<entry, inline_entries> entries_{};
    std::array<char, inline_bytes> buf_; // uninitialized until written: only [0, used_) is read
    std::size_t count_ = 0;
    std::size_t used_ = 0;
    std::vector<std::pair<std::string, std::string>> heap_;
};

} // namespace bulwark
