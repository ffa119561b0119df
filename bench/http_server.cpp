// Issue #18's server figures: aiohttp.web's hello world on aiocpp, for the peers lab
// (bench/compare_http.sh, ../shared/peers): GET / -> "Hello, World!" through the real router,
// with llhttp parsing and a Date header, as the lab's nginx and aiohttp rows answer.
// Issue #21: `aio_http_server PORT --workers N` serves on N loops, one per core
// (run_app's workers, bench/compare_per_core.sh).
#include <aio/aio.hpp>
#include <aio/http/web_runner.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PORT [--workers N]\n", argv[0]);
        return 2;
    }
    aio::http::Application app;
    app.router().add_get("/", [](aio::http::Request) -> aio::Task<aio::http::Response> {
        co_return aio::http::Response("Hello, World!");
    });
    aio::http::RunAppOptions options;
    options.print_banner = false;
    for (int i = 2; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--workers") == 0) options.workers = std::strtoul(argv[i + 1], nullptr, 10);
    aio::http::run_app(app, "127.0.0.1", static_cast<uint16_t>(std::atoi(argv[1])), std::move(options));
    return 0;
}
