#include "aio/core/errors.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <system_error>
#include <typeinfo>

namespace aio {

namespace {
std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> p(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
    return status == 0 && p ? std::string(p.get()) : std::string(name);
}

std::string group_message(const std::string& message, const std::vector<std::exception_ptr>& excs) {
    std::string m = message + " (" + std::to_string(excs.size()) + " sub-exception" + (excs.size() == 1 ? "" : "s") + ")";
    for (const auto& e : excs) m += "\n  - " + describe_exception(e);
    return m;
}
}  // namespace

ExceptionGroup::ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions)
    : Error(group_message(message, exceptions)), exceptions_(std::move(exceptions)) {}

std::string describe_exception(const std::exception_ptr& e) {
    if (!e) return "no exception";
    try {
        std::rethrow_exception(e);
    } catch (const BaseException& x) {
        std::string n = demangle(typeid(x).name());
        if (n.rfind("aio::", 0) == 0) n = n.substr(5);
        return x.message().empty() ? n : n + ": " + x.message();
    } catch (const std::exception& x) {
        std::string n = demangle(typeid(x).name());
        if (n.rfind("aio::", 0) == 0) n = n.substr(5);
        return n + ": " + x.what();
    } catch (...) {
        return "unknown exception (not derived from std::exception)";
    }
}

}  // namespace aio
