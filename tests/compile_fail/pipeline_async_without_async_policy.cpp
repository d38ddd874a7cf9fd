// A policy without async_execute used with the coroutine driver.
// expect: a policy of this pipeline has no async_execute
#include <bulwark/pipeline.hpp>

struct sync_only {
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        return next(ctx);
    }
};

int main() {
    bulwark::pipeline p{sync_only{}};
    auto t = p.async_execute([]() -> bulwark::task<int> { co_return 1; });
}
