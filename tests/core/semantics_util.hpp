// Helpers shared by the tests/core/test_semantics_*.cpp files: those tests pin down asyncio's
// observable behaviour, each one checked against CPython 3.11 first (the Python reference and
// its output are in a comment above every test).
#pragma once

#include <aio/aio.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace sem {

using namespace std::chrono_literals;

/// The event log every scenario appends to (Python: `log = []`).
using Log = std::vector<std::string>;

/// Stand-ins for Python's ValueError and KeyError.
struct ValueError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct KeyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// loop.time() of the running loop. Under the virtual clock it starts at 0, so it is also the
/// time elapsed since aio::run began.
inline double now() { return aio::get_running_loop().time(); }

/// "Type:message" for an exception, to compare with Python's `f"{type(e).__name__}:{e}"`.
inline std::string describe(const std::exception_ptr& e) {
    if (!e) return "none";
    try {
        std::rethrow_exception(e);
    } catch (const aio::CancelledError& x) {
        return "CancelledError:" + x.message();
    } catch (const ValueError& x) {
        return std::string("ValueError:") + x.what();
    } catch (const KeyError& x) {
        return std::string("KeyError:") + x.what();
    } catch (const aio::TimeoutError&) {
        return "TimeoutError";
    } catch (const aio::RuntimeError& x) {
        return std::string("RuntimeError:") + x.what();
    } catch (const std::exception& x) {
        return std::string("std::exception:") + x.what();
    } catch (...) {
        return "unknown";
    }
}

/// describe() applied to every sub-exception of an ExceptionGroup, in order.
inline std::vector<std::string> describe_all(const aio::ExceptionGroup& eg) {
    std::vector<std::string> out;
    for (const auto& e : eg.exceptions()) out.push_back(describe(e));
    return out;
}

}  // namespace sem
