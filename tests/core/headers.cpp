#include <bulwark/core/headers.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

TEST_CASE("header_map: set, get case-insensitively, replace, erase", "[core][headers]") {
    bulwark::header_map h;
    h.set("Content-Type", "text/plain");
    h.set("traceparent", "00-abc-def-01");
    CHECK(h.get("content-type") == "text/plain");
    CHECK(h.get("TRACEPARENT") == "00-abc-def-01");
    CHECK_FALSE(h.get("missing"));
    h.set("content-type", "application/json");
    CHECK(h.size() == 2);
    CHECK(h.get("Content-Type") == "application/json");
    CHECK(h.erase("CONTENT-TYPE"));
    CHECK_FALSE(h.erase("content-type"));
    CHECK(h.size() == 1);
}

TEST_CASE("header_map keeps small sets inline and spills large ones", "[core][headers][alloc]") {
    bulwark::header_map h;
    {
        bulwark::test::alloc_scope scope;
        for (int i = 0; i < 8; ++i)
            h.set("k" + std::to_string(i) /* SSO: no alloc */, "value");
        for (int i = 0; i < 50; ++i)
            h.set("k1", i % 2 ? "a-much-longer-value-to-force-compaction" : "b");
        CHECK(scope.count() == 0);
    }
    CHECK(h.size() == 8);
    h.set("ninth", "spills to the heap");
    CHECK(h.size() == 9);
    CHECK(h.get("k0") == "value");
    CHECK(h.get("K1") == "a-much-longer-value-to-force-compaction");
    CHECK(h.get("ninth") == "spills to the heap");
    std::string big(300, 'x');
    bulwark::header_map g;
    g.set("big", big);
    CHECK(g.get("big") == big);
}

TEST_CASE("header_map copies and compares by content", "[core][headers]") {
    bulwark::header_map a;
    a.set("a", "1");
    a.set("b", "2");
    bulwark::header_map b = a;
    CHECK(a == b);
    b.set("b", "3");
    CHECK_FALSE(a == b);
    std::string seen;
    a.for_each([&](std::string_view k, std::string_view v) {
        seen += std::string(k) + "=" + std::string(v) + ";";
    });
    CHECK(seen == "a=1;b=2;");
}

TEST_CASE("header_map: replacing a value that no longer fits inline leaves no phantom header "
          "(issue 9)",
          "[core][headers][regression]") {
    bulwark::header_map h;
    const std::string hundred(100, 'x'), two_hundred(200, 'y');
    h.set("a", hundred);
    h.set("b", hundred);
    h.set("a", two_hundred); // spills to the heap
    CHECK(h.size() == 2);
    CHECK(h.get("a") == std::string_view{two_hundred});
    CHECK(h.get("b") == std::string_view{hundred});
    std::vector<std::string> names;
    h.for_each([&](auto k, auto) { names.emplace_back(k); });
    CHECK(names == std::vector<std::string>{"a", "b"}); // insertion order kept, no empty name
    CHECK_FALSE(h.contains(""));
}
