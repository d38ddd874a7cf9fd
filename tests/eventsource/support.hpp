#pragma once
// Shared by the event store tests (memory, SQLite, JetStream): test events and their codec, an
// order aggregate with snapshots, a projection, a recording byte transport, and temp dirs.

#include <bulwark/eventsource/aggregate.hpp>
#include <bulwark/eventsource/event_store.hpp>
#include <bulwark/eventsource/outbox.hpp>
#include <bulwark/eventsource/projection.hpp>
#include <bulwark/transport/message_transport.hpp>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace es_test {

// Each event encodes as text fields separated by '|'.
struct order_placed {
    static constexpr std::string_view event_type = "order_placed";
    std::string customer;
    long total = 0;
    std::string text() const { return customer + "|" + std::to_string(total); }
};
struct item_added {
    static constexpr std::string_view event_type = "item_added";
    std::string sku;
    long qty = 0;
    long price = 0;
    std::string text() const {
        return sku + "|" + std::to_string(qty) + "|" + std::to_string(price);
    }
};
struct order_paid {
    static constexpr std::string_view event_type = "order_paid";
    long amount = 0;
    std::string text() const { return std::to_string(amount); }
};

inline std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto p = s.find('|', start);
        out.emplace_back(s.substr(start, p == std::string_view::npos ? p : p - start));
        if (p == std::string_view::npos)
            return out;
        start = p + 1;
    }
}
inline bool to_long(const std::string& s, long& v) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

struct text_codec {
    using codec_concept = bulwark::codec_tag;
    static constexpr std::string_view name = "text/plain";
    template <class T>
    void encode(const T& v, std::vector<std::byte>& out) const {
        auto s = v.text();
        auto b = std::as_bytes(std::span{s.data(), s.size()});
        out.insert(out.end(), b.begin(), b.end());
    }
    template <class T>
    bulwark::outcome<T> decode(std::span<const std::byte> in) const {
        std::string s(reinterpret_cast<const char*>(in.data()), in.size());
        auto f = split(s);
        T v{};
        bool ok = false;
        if constexpr (std::is_same_v<T, order_placed>)
            ok = f.size() == 2 && (v.customer = f[0], to_long(f[1], v.total));
        else if constexpr (std::is_same_v<T, item_added>)
            ok = f.size() == 3 && (v.sku = f[0], to_long(f[1], v.qty) && to_long(f[2], v.price));
        else if constexpr (std::is_same_v<T, order_paid>)
            ok = f.size() == 1 && to_long(f[0], v.amount);
        if (!ok)
            return bulwark::errc::decode_error;
        return v;
    }
};
static_assert(bulwark::codec<text_codec, order_placed>);

struct order : bulwark::aggregate<order, text_codec, order_placed, item_added, order_paid> {
    std::string customer;
    long total = 0;
    long items = 0;
    long paid = 0;
    std::vector<std::string> skus;

    void apply(const order_placed& e) {
        customer = e.customer;
        total = e.total;
    }
    void apply(const item_added& e) {
        items += e.qty;
        total += e.qty * e.price;
        skus.push_back(e.sku);
    }
    void apply(const order_paid& e) { paid += e.amount; }

    // decisions
    void place(std::string c) { record(order_placed{std::move(c), 0}); }
    void add(std::string sku, long qty, long price) {
        record(item_added{std::move(sku), qty, price});
    }
    void pay(long amount) { record(order_paid{amount}); }

    // snapshots
    std::string snapshot_state() const {
        std::string s = customer + "|" + std::to_string(total) + "|" + std::to_string(items) + "|" +
                        std::to_string(paid);
        for (const auto& k : skus)
            s += "|" + k;
        return s;
    }
    void restore_state(std::string_view s) {
        auto f = split(s);
        customer = f.at(0);
        to_long(f.at(1), total);
        to_long(f.at(2), items);
        to_long(f.at(3), paid);
        skus.assign(f.begin() + 4, f.end());
    }
    bool same_state(const order& o) const {
        return customer == o.customer && total == o.total && items == o.items && paid == o.paid &&
               skus == o.skus && version() == o.version();
    }
};

struct revenue : bulwark::projection<revenue, text_codec, order_paid, item_added> {
    long paid = 0;
    long items = 0;
    std::map<std::string, long> paid_by_order;
    void on(const order_paid& e, const bulwark::recorded_event& r) {
        paid += e.amount;
        paid_by_order[r.stream] += e.amount;
    }
    void on(const item_added& e, const bulwark::recorded_event&) { items += e.qty; }
};

inline bulwark::event_data ev(std::string type = "noted", std::string payload = "x") {
    return bulwark::event_data{bulwark::new_event_id(), std::move(type), std::move(payload)};
}

// A byte transport that records what is published and can be told to fail.
struct recording_transport {
    using transport_concept = bulwark::transport_tag;
    struct published {
        std::string subject;
        std::string id;
        std::string nats_id;
        std::string type;
        std::string payload;
    };
    struct handle {
        void unsubscribe() {}
    };
    std::mutex mutex;
    std::vector<published> log;
    int fail_after = -1; // fail every publish once this many succeeded (-1: never)

    bulwark::outcome<void> publish(std::string_view subject, const bulwark::header_map& h,
                                   std::span<const std::byte> data) {
        std::lock_guard lock(mutex);
        if (fail_after >= 0 && static_cast<int>(log.size()) >= fail_after)
            return bulwark::errc::transport_error;
        log.push_back({std::string(subject),
                       std::string(h.get(bulwark::header::message_id).value_or("")),
                       std::string(h.get(bulwark::header::nats_msg_id).value_or("")),
                       std::string(h.get(bulwark::header::event_type).value_or("")),
                       std::string(reinterpret_cast<const char*>(data.data()), data.size())});
        return bulwark::outcome<void>::success();
    }
    handle subscribe(std::string_view, std::string_view, bulwark::message_handler) { return {}; }
    bulwark::outcome<bulwark::received_message> request(std::string_view,
                                                        const bulwark::header_map&,
                                                        std::span<const std::byte>,
                                                        bulwark::time_point) {
        return bulwark::errc::no_responders;
    }
    void drain() {}
};
static_assert(bulwark::message_transport<recording_transport>);

// A fresh directory under the system temp dir, removed at the end of the test.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() /
               ("bulwark-es-" + std::to_string(rd()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

} // namespace es_test
