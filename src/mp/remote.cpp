// Describing an exception so that it can travel to another process: its type's name and message.
#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

#include "aio/core/errors.hpp"
#include "mp_internal.hpp"

namespace aio::mp {

namespace {
std::string demangle(const char* mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> p(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    return status == 0 && p ? std::string(p.get()) : std::string(mangled);
}
}  // namespace

std::string exception_type_name(const std::exception_ptr& e) {
    // The thrown object's dynamic type, which catch (const std::exception&) would hide.
    if (!e) return "none";
    try {
        std::rethrow_exception(e);
    } catch (...) {
        const std::type_info* t = abi::__cxa_current_exception_type();
        return t ? demangle(t->name()) : std::string("unknown exception");
    }
}

std::string exception_message(const std::exception_ptr& e) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (const BaseException& x) {
        return x.message();
    } catch (...) {
        return {};
    }
}

}  // namespace aio::mp
