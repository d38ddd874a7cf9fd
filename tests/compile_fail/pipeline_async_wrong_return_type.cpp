// The natural guess for an async policy's return type, `task<decltype(next(ctx))>`, is a task of
// a task: the diagnostic must say what to return instead of "has no async_execute".
// expect: async_execute must return next_result_t<Next> [(]got
#include <bulwark/pipeline.hpp>

struct guessed {
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        return next(ctx);
    }
    template <class Next>
    auto async_execute(Next&& next, bulwark::context& ctx) -> bulwark::task<decltype(next(ctx))> {
        co_return next(ctx);
    }
};

int main() {
    bulwark::pipeline p{guessed{}};
    auto t = p.async_execute([]() -> bulwark::task<int> { co_return 1; });
}
