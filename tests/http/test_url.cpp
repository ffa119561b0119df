// aio::http::URL (yarl.URL) and the urllib.parse helpers: parsing, errors, RFC 3986 joins,
// query building, serialization.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "aio/http/url.hpp"

using aio::http::URL;
using Pairs = std::vector<std::pair<std::string, std::string>>;

namespace {

// The message of the std::invalid_argument that parsing `text` throws, or "" if it does not throw.
std::string parse_error(std::string_view text) {
    try {
        URL u(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST(URL, ParsesEveryPartOfAnAbsoluteURL) {
    URL u("https://user:pw@Example.COM:8443/a/b%20c?x=1&y=2#frag");
    EXPECT_EQ(u.scheme(), "https");
    EXPECT_EQ(u.user(), "user");
    EXPECT_EQ(u.password(), "pw");
    EXPECT_EQ(u.host(), "example.com");
    EXPECT_EQ(u.explicit_port(), 8443);
    EXPECT_EQ(u.port(), 8443);
    EXPECT_EQ(u.raw_path(), "/a/b%20c");
    EXPECT_EQ(u.path(), "/a/b c");
    EXPECT_EQ(u.raw_query(), "x=1&y=2");
    EXPECT_EQ(u.fragment(), "frag");
    EXPECT_TRUE(u.is_absolute());
    EXPECT_FALSE(u.is_default_port());
    EXPECT_EQ(u.str(), "https://user:pw@example.com:8443/a/b%20c?x=1&y=2#frag");
}

TEST(URL, ParseIsTheConstructor) {
    EXPECT_EQ(URL::parse("http://h/p?q"), URL("http://h/p?q"));
    EXPECT_EQ(URL::parse("http://h/p?q").str(), "http://h/p?q");
}

TEST(URL, SchemeAndHostAreLowerCasedButPathIsNot) {
    URL u("HTTP://WWW.Example.Org/Path/To?Q=V");
    EXPECT_EQ(u.scheme(), "http");
    EXPECT_EQ(u.host(), "www.example.org");
    EXPECT_EQ(u.raw_path(), "/Path/To");
    EXPECT_EQ(u.raw_query(), "Q=V");
    EXPECT_EQ(u.str(), "http://www.example.org/Path/To?Q=V");
}

TEST(URL, DefaultPorts) {
    EXPECT_EQ(URL("http://h/").port(), 80);
    EXPECT_EQ(URL("ws://h/").port(), 80);
    EXPECT_EQ(URL("https://h/").port(), 443);
    EXPECT_EQ(URL("wss://h/").port(), 443);
    EXPECT_EQ(URL("ftp://h/").port(), 0);
    EXPECT_EQ(URL("/relative").port(), 0);
    EXPECT_FALSE(URL("http://h/").explicit_port().has_value());
    EXPECT_TRUE(URL("http://h/").is_default_port());
    EXPECT_TRUE(URL("http://h:80/").is_default_port());
    EXPECT_FALSE(URL("http://h:443/").is_default_port());
    EXPECT_TRUE(URL("https://h:443/").is_default_port());
    EXPECT_EQ(URL("http://h:80/").explicit_port(), 80);
    EXPECT_EQ(URL("http://h:0/").explicit_port(), 0);
    EXPECT_EQ(URL("http://h:65535/").port(), 65535);
    // An empty port is allowed by RFC 3986 and means the default.
    EXPECT_FALSE(URL("http://h:/").explicit_port().has_value());
    EXPECT_EQ(URL("http://h:/").port(), 80);
}

TEST(URL, HostPortOmitsOnlyTheDefaultPort) {
    EXPECT_EQ(URL("http://h/").host_port(), "h");
    EXPECT_EQ(URL("http://h:80/").host_port(), "h");
    EXPECT_EQ(URL("http://h:8080/").host_port(), "h:8080");
    EXPECT_EQ(URL("https://h:80/").host_port(), "h:80");
    EXPECT_EQ(URL("https://h:443/").host_port(), "h");
    // str() keeps a written default port: it was part of the URL.
    EXPECT_EQ(URL("http://h:80/").str(), "http://h:80/");
}

TEST(URL, IPv6Literal) {
    URL u("http://[::1]:8080/x");
    EXPECT_EQ(u.host(), "::1");
    EXPECT_EQ(u.port(), 8080);
    EXPECT_EQ(u.host_port(), "[::1]:8080");
    EXPECT_EQ(u.raw_path(), "/x");
    EXPECT_EQ(u.str(), "http://[::1]:8080/x");

    URL v("https://[2001:DB8::A]/");
    EXPECT_EQ(v.host(), "2001:db8::a");
    EXPECT_EQ(v.host_port(), "[2001:db8::a]");
    EXPECT_EQ(v.port(), 443);
    EXPECT_EQ(v.str(), "https://[2001:db8::a]/");

    EXPECT_EQ(URL("http://[::ffff:192.0.2.1]/").host(), "::ffff:192.0.2.1");
    EXPECT_EQ(URL("http://[1:2:3:4:5:6:7:8]/").host(), "1:2:3:4:5:6:7:8");
    EXPECT_EQ(URL("http://[::]/").host(), "::");
    EXPECT_EQ(URL("http://[::1]").str(), "http://[::1]");
}

TEST(URL, IPv6ZoneIdentifierIsKeptDecodedInHost) {
    URL u("http://[fe80::1%25eth0]:8080/");
    EXPECT_EQ(u.host(), "fe80::1%eth0");
    EXPECT_EQ(u.host_port(), "[fe80::1%25eth0]:8080");
    EXPECT_EQ(u.str(), "http://[fe80::1%25eth0]:8080/");
    EXPECT_EQ(URL(u.str()), u);
}

TEST(URL, UserinfoIsDecoded) {
    URL u("http://us%40er:p%3Ass@h/");
    EXPECT_EQ(u.user(), "us@er");
    EXPECT_EQ(u.password(), "p:ss");
    EXPECT_EQ(u.host(), "h");
    EXPECT_EQ(u.str(), "http://us%40er:p%3Ass@h/");
    EXPECT_EQ(URL(u.str()), u);

    URL only_user("http://alice@h/");
    EXPECT_EQ(only_user.user(), "alice");
    EXPECT_EQ(only_user.password(), "");
    EXPECT_EQ(only_user.str(), "http://alice@h/");
}

TEST(URL, AnUnencodedAtInThePasswordEndsAtTheLastAt) {
    URL u("http://u:p@ss@h/x");
    EXPECT_EQ(u.user(), "u");
    EXPECT_EQ(u.password(), "p@ss");
    EXPECT_EQ(u.host(), "h");
    EXPECT_EQ(u.str(), "http://u:p%40ss@h/x");
}

TEST(URL, HumanReprHidesTheCredentials) {
    URL u("https://alice:s3cret@h:8443/p?q=1#f");
    const std::string repr = u.human_repr();
    EXPECT_EQ(repr, "https://h:8443/p?q=1#f");
    EXPECT_EQ(repr.find("s3cret"), std::string::npos);
    EXPECT_EQ(repr.find("alice"), std::string::npos);
    EXPECT_NE(u.str().find("s3cret"), std::string::npos);
}

TEST(URL, EmptyPathOfAnAbsoluteURLIsRoot) {
    URL u("http://h");
    EXPECT_EQ(u.raw_path(), "/");
    EXPECT_EQ(u.path(), "/");
    EXPECT_EQ(u.path_qs(), "/");
    EXPECT_EQ(u.str(), "http://h");
    EXPECT_EQ(u, URL("http://h/"));
    URL q("http://h?x=1");
    EXPECT_EQ(q.raw_path(), "/");
    EXPECT_EQ(q.raw_query(), "x=1");
    EXPECT_EQ(q.path_qs(), "/?x=1");
}

TEST(URL, PathQs) {
    EXPECT_EQ(URL("http://h/a/b?c=d&e#frag").path_qs(), "/a/b?c=d&e");
    EXPECT_EQ(URL("http://h/a%2Fb").path_qs(), "/a%2Fb");
    EXPECT_EQ(URL("http://h/a?").path_qs(), "/a");
    EXPECT_EQ(URL("").path_qs(), "/");
    EXPECT_EQ(URL("?x").path_qs(), "/?x");
}

TEST(URL, EncodedSlashStaysEncodedInRawPath) {
    URL u("http://h/a%2Fb/c");
    EXPECT_EQ(u.raw_path(), "/a%2Fb/c");
    EXPECT_EQ(u.path(), "/a/b/c");
}

TEST(URL, QueryIsDecodedInOrderWithPlusAsSpace) {
    URL u("http://h/?a=1+2&b=x%20y&a=3&flag&c=%2B&&d=");
    EXPECT_EQ(u.query(), (Pairs{{"a", "1 2"}, {"b", "x y"}, {"a", "3"}, {"flag", ""}, {"c", "+"}, {"d", ""}}));
    EXPECT_EQ(u.raw_query(), "a=1+2&b=x%20y&a=3&flag&c=%2B&&d=");
    EXPECT_TRUE(URL("http://h/").query().empty());
}

TEST(URL, NonAsciiAndUnsafeBytesArePercentEncodedWhenParsed) {
    URL u("http://h/caf\xC3\xA9?q=\xC3\xA9&r={x}#\xC3\xA9");
    EXPECT_EQ(u.raw_path(), "/caf%C3%A9");
    EXPECT_EQ(u.path(), "/caf\xC3\xA9");
    EXPECT_EQ(u.raw_query(), "q=%C3%A9&r=%7Bx%7D");
    EXPECT_EQ(u.query(), (Pairs{{"q", "\xC3\xA9"}, {"r", "{x}"}}));
    EXPECT_EQ(u.raw_fragment(), "%C3%A9");
    EXPECT_EQ(u.fragment(), "\xC3\xA9");
    EXPECT_EQ(u.str(), "http://h/caf%C3%A9?q=%C3%A9&r=%7Bx%7D#%C3%A9");
}

TEST(URL, StrayPercentIsEncoded) {
    URL u("http://h/100%?p=5%x");
    EXPECT_EQ(u.raw_path(), "/100%25");
    EXPECT_EQ(u.path(), "/100%");
    EXPECT_EQ(u.raw_query(), "p=5%25x");
    EXPECT_EQ(u.query(), (Pairs{{"p", "5%x"}}));
}

TEST(URL, FragmentIsDecoded) {
    URL u("http://h/p#sec%20two");
    EXPECT_EQ(u.fragment(), "sec two");
    EXPECT_EQ(u.raw_fragment(), "sec%20two");
    EXPECT_EQ(u.path_qs(), "/p");
}

TEST(URL, RelativeReferences) {
    URL empty("");
    EXPECT_EQ(empty.scheme(), "");
    EXPECT_EQ(empty.host(), "");
    EXPECT_EQ(empty.raw_path(), "");
    EXPECT_FALSE(empty.is_absolute());
    EXPECT_EQ(empty.str(), "");
    EXPECT_EQ(empty, URL());

    URL abs_path("/abs/p?x=1");
    EXPECT_EQ(abs_path.raw_path(), "/abs/p");
    EXPECT_EQ(abs_path.raw_query(), "x=1");
    EXPECT_FALSE(abs_path.is_absolute());

    URL dots("../a");
    EXPECT_EQ(dots.raw_path(), "../a");
    EXPECT_EQ(dots.str(), "../a");

    URL q("?q");
    EXPECT_EQ(q.raw_path(), "");
    EXPECT_EQ(q.raw_query(), "q");
    EXPECT_EQ(q.str(), "?q");

    URL f("#f");
    EXPECT_EQ(f.fragment(), "f");
    EXPECT_EQ(f.str(), "#f");
}

TEST(URL, SchemeRelative) {
    URL u("//Host:81/p");
    EXPECT_EQ(u.scheme(), "");
    EXPECT_EQ(u.host(), "host");
    EXPECT_EQ(u.explicit_port(), 81);
    EXPECT_EQ(u.raw_path(), "/p");
    EXPECT_FALSE(u.is_absolute());
    EXPECT_EQ(u.str(), "//host:81/p");
    EXPECT_EQ(URL("https://a/b").join(u).str(), "https://host:81/p");
}

TEST(URL, OtherSchemes) {
    URL file("file:///etc/hosts");
    EXPECT_EQ(file.scheme(), "file");
    EXPECT_EQ(file.host(), "");
    EXPECT_EQ(file.raw_path(), "/etc/hosts");
    EXPECT_FALSE(file.is_absolute());
    EXPECT_EQ(file.str(), "file:///etc/hosts");

    URL mail("mailto:a@b.c");
    EXPECT_EQ(mail.scheme(), "mailto");
    EXPECT_EQ(mail.host(), "");
    EXPECT_EQ(mail.raw_path(), "a@b.c");
    EXPECT_EQ(mail.str(), "mailto:a@b.c");

    // Not a valid scheme before the ':', so a relative path.
    URL rel("1a:b");
    EXPECT_EQ(rel.scheme(), "");
    EXPECT_EQ(rel.raw_path(), "1a:b");
}

TEST(URL, InvalidPortsThrow) {
    EXPECT_THROW(URL("http://h:99999/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h:65536/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h:x/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h:8o/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h:-1/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h:1:2/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h:99999999999999999999/"), std::invalid_argument);
    EXPECT_EQ(parse_error("http://h:99999/"), "invalid URL 'http://h:99999/': port '99999' is out of range 0-65535");
    EXPECT_EQ(parse_error("http://h:x/"), "invalid URL 'http://h:x/': port 'x' is not a number");
}

TEST(URL, WhitespaceAndControlCharactersThrow) {
    EXPECT_THROW(URL("http://h o/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h/a b"), std::invalid_argument);
    EXPECT_THROW(URL("http://h/?a=b c"), std::invalid_argument);
    EXPECT_THROW(URL(" http://h/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h/\n"), std::invalid_argument);
    EXPECT_THROW(URL("http://h\r\nX-Injected: 1/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h/\t"), std::invalid_argument);
    EXPECT_THROW(URL(std::string_view("http://h/\0", 10)), std::invalid_argument);
    EXPECT_THROW(URL("http://h/\x7F"), std::invalid_argument);
    const std::string message = parse_error("http://h/a b");
    EXPECT_NE(message.find("invalid URL 'http://h/a b'"), std::string::npos) << message;
    EXPECT_NE(message.find("whitespace"), std::string::npos) << message;
}

TEST(URL, BadHostsThrow) {
    EXPECT_THROW(URL("http://[::1/"), std::invalid_argument);
    EXPECT_NE(parse_error("http://[::1").find("unterminated IPv6"), std::string::npos);
    EXPECT_THROW(URL("http://[::1]x/"), std::invalid_argument);
    EXPECT_THROW(URL("http://[1:2:3]/"), std::invalid_argument);
    EXPECT_THROW(URL("http://[1::2::3]/"), std::invalid_argument);
    EXPECT_THROW(URL("http://[12345::]/"), std::invalid_argument);
    EXPECT_THROW(URL("http://[1:2:3:4:5:6:7:8:9]/"), std::invalid_argument);
    EXPECT_THROW(URL("http://[::256.0.0.1]/"), std::invalid_argument);
    EXPECT_THROW(URL("http://[g::1]/"), std::invalid_argument);
    EXPECT_THROW(URL("http://[]/"), std::invalid_argument);
    EXPECT_THROW(URL("http://h<x>/"), std::invalid_argument);
    EXPECT_THROW(URL("http://a]b/"), std::invalid_argument);
    // An http(s) authority needs a host.
    EXPECT_THROW(URL("http:///x"), std::invalid_argument);
    EXPECT_THROW(URL("https://"), std::invalid_argument);
    EXPECT_THROW(URL("http://user@/x"), std::invalid_argument);
    EXPECT_THROW(URL("http://:80/x"), std::invalid_argument);
    EXPECT_NE(parse_error("http:///x").find("host is empty"), std::string::npos);
}

TEST(URL, EqualityIsPartByPart) {
    EXPECT_EQ(URL("http://h/a?b#c"), URL("HTTP://H/a?b#c"));
    EXPECT_NE(URL("http://h/a"), URL("http://h/A"));
    EXPECT_NE(URL("http://h:80/"), URL("http://h/"));
    EXPECT_NE(URL("http://h/a?"), URL("http://h/a?x"));
    EXPECT_NE(URL("http://u@h/"), URL("http://h/"));
}

TEST(URL, StrRoundTripsParse) {
    for (const char* text : {"http://h", "http://h/", "https://u:p@h:1/a/b;c?d=e&f#g", "http://[::1]:8080/x?y", "//h/p",
                             "/a/b", "a/b", "../a", "?q", "#f", "", "file:///x", "mailto:x@y", "http://h/a?",
                             "http://h/a#", "http://h:80/", "http://h/%7Euser/%2F"}) {
        const URL u(text);
        EXPECT_EQ(URL(u.str()), u) << text;
        EXPECT_EQ(u.str(), text) << text;
    }
}

TEST(URL, Origin) {
    EXPECT_EQ(URL("https://u:p@Example.com:8443/a?b#c").origin().str(), "https://example.com:8443");
    EXPECT_EQ(URL("http://h:80/a").origin(), URL("http://h/b").origin());
    EXPECT_EQ(URL("http://h/a").origin().str(), "http://h");
    EXPECT_EQ(URL("http://[::1]:81/").origin().str(), "http://[::1]:81");
    EXPECT_NE(URL("http://h/").origin(), URL("https://h/").origin());
    EXPECT_NE(URL("http://h/").origin(), URL("http://h:8080/").origin());
    EXPECT_THROW((void)URL("/relative").origin(), std::invalid_argument);
}

// RFC 3986 section 5.4: every example, resolved against the RFC's base URI.
class JoinRfc3986 : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(JoinRfc3986, ResolvesAgainstTheBase) {
    const URL base("http://a/b/c/d;p?q");
    const auto& [ref, expected] = GetParam();
    EXPECT_EQ(base.join(URL(ref)).str(), expected) << "ref: " << ref;
}

INSTANTIATE_TEST_SUITE_P(
    Normal, JoinRfc3986,
    ::testing::Values(std::pair{"g:h", "g:h"}, std::pair{"g", "http://a/b/c/g"}, std::pair{"./g", "http://a/b/c/g"},
                      std::pair{"g/", "http://a/b/c/g/"}, std::pair{"/g", "http://a/g"}, std::pair{"//g", "http://g"},
                      std::pair{"?y", "http://a/b/c/d;p?y"}, std::pair{"g?y", "http://a/b/c/g?y"},
                      std::pair{"#s", "http://a/b/c/d;p?q#s"}, std::pair{"g#s", "http://a/b/c/g#s"},
                      std::pair{"g?y#s", "http://a/b/c/g?y#s"}, std::pair{";x", "http://a/b/c/;x"},
                      std::pair{"g;x", "http://a/b/c/g;x"}, std::pair{"g;x?y#s", "http://a/b/c/g;x?y#s"},
                      std::pair{"", "http://a/b/c/d;p?q"}, std::pair{".", "http://a/b/c/"},
                      std::pair{"./", "http://a/b/c/"}, std::pair{"..", "http://a/b/"}, std::pair{"../", "http://a/b/"},
                      std::pair{"../g", "http://a/b/g"}, std::pair{"../..", "http://a/"},
                      std::pair{"../../", "http://a/"}, std::pair{"../../g", "http://a/g"}));

INSTANTIATE_TEST_SUITE_P(
    Abnormal, JoinRfc3986,
    ::testing::Values(std::pair{"../../../g", "http://a/g"}, std::pair{"../../../../g", "http://a/g"},
                      std::pair{"/./g", "http://a/g"}, std::pair{"/../g", "http://a/g"},
                      std::pair{"g.", "http://a/b/c/g."}, std::pair{".g", "http://a/b/c/.g"},
                      std::pair{"g..", "http://a/b/c/g.."}, std::pair{"..g", "http://a/b/c/..g"},
                      std::pair{"./../g", "http://a/b/g"}, std::pair{"./g/.", "http://a/b/c/g/"},
                      std::pair{"g/./h", "http://a/b/c/g/h"}, std::pair{"g/../h", "http://a/b/c/h"},
                      std::pair{"g;x=1/./y", "http://a/b/c/g;x=1/y"}, std::pair{"g;x=1/../y", "http://a/b/c/y"},
                      std::pair{"g?y/./x", "http://a/b/c/g?y/./x"}, std::pair{"g?y/../x", "http://a/b/c/g?y/../x"},
                      std::pair{"g#s/./x", "http://a/b/c/g#s/./x"}, std::pair{"g#s/../x", "http://a/b/c/g#s/../x"},
                      std::pair{"http:g", "http:g"}));

TEST(URL, JoinKeepsTheBaseAuthority) {
    const URL base("https://u:p@h:8443/api/v1/items?page=2");
    const URL joined = base.join(URL("../v2/x?y=1"));
    EXPECT_EQ(joined.str(), "https://u:p@h:8443/api/v2/x?y=1");
    EXPECT_EQ(joined.user(), "u");
    EXPECT_EQ(joined.password(), "p");
    EXPECT_EQ(joined.port(), 8443);
    // An absolute Location replaces everything.
    EXPECT_EQ(base.join(URL("http://other/z")).str(), "http://other/z");
    // An empty base path merges as "/".
    EXPECT_EQ(URL("http://h").join(URL("x")).str(), "http://h/x");
    // An empty query in the reference is a query: it replaces the base's.
    EXPECT_EQ(URL("http://h/a?b").join(URL("?")).raw_query(), "");
    EXPECT_EQ(URL("http://h/a?b").join(URL("?")).path_qs(), "/a");
}

TEST(URL, WithQueryEncodesNamesAndValues) {
    const URL u = URL("http://h/p?old=1#f").with_query({{"q", "a b&c"}, {"k=", "x+y/z?"}, {"e", ""}});
    EXPECT_EQ(u.raw_query(), "q=a%20b%26c&k%3D=x%2By/z?&e=");
    EXPECT_EQ(u.query(), (Pairs{{"q", "a b&c"}, {"k=", "x+y/z?"}, {"e", ""}}));
    EXPECT_EQ(u.str(), "http://h/p?q=a%20b%26c&k%3D=x%2By/z?&e=#f");
    EXPECT_EQ(URL(u.str()), u);
    EXPECT_EQ(URL("http://h/p").with_query({{"n", "\xC3\xA9%#"}}).raw_query(), "n=%C3%A9%25%23");
    const URL cleared = URL("http://h/p?x=1").with_query({});
    EXPECT_EQ(cleared.raw_query(), "");
    EXPECT_EQ(cleared.str(), "http://h/p");
}

TEST(URL, ExtendQueryAppends) {
    const URL u = URL("http://h/p?a=1").extend_query({{"b", "2 3"}, {"a", "4"}});
    EXPECT_EQ(u.raw_query(), "a=1&b=2%203&a=4");
    EXPECT_EQ(u.query(), (Pairs{{"a", "1"}, {"b", "2 3"}, {"a", "4"}}));
    EXPECT_EQ(URL("http://h/p").extend_query({{"x", "y"}}).str(), "http://h/p?x=y");
    EXPECT_EQ(URL("http://h/p?a=1").extend_query({}).str(), "http://h/p?a=1");
}

TEST(URL, WithFragment) {
    const URL u = URL("http://h/p?q").with_fragment("sec two");
    EXPECT_EQ(u.fragment(), "sec two");
    EXPECT_EQ(u.str(), "http://h/p?q#sec%20two");
    EXPECT_EQ(URL(u.str()), u);
    EXPECT_EQ(URL("http://h/p#x").with_fragment("").str(), "http://h/p");
    EXPECT_EQ(URL("http://h/p#x").with_fragment("").fragment(), "");
}

TEST(URL, WithUserPassword) {
    const URL u = URL("http://h/p").with_user_password("us@er", "p:ss/");
    EXPECT_EQ(u.user(), "us@er");
    EXPECT_EQ(u.password(), "p:ss/");
    EXPECT_EQ(u.str(), "http://us%40er:p%3Ass%2F@h/p");
    EXPECT_EQ(URL(u.str()), u);
    EXPECT_EQ(u.human_repr(), "http://h/p");
    const URL removed = URL("http://a:b@h/p").with_user_password("", "");
    EXPECT_EQ(removed.str(), "http://h/p");
    EXPECT_EQ(removed, URL("http://h/p"));
    EXPECT_THROW((void)URL("/p").with_user_password("a", "b"), std::invalid_argument);
}

TEST(Quote, EncodesOutsideUnreservedAndSafe) {
    using aio::http::quote;
    EXPECT_EQ(quote("abc-._~XYZ019"), "abc-._~XYZ019");
    EXPECT_EQ(quote("/a b/c"), "/a%20b/c");
    EXPECT_EQ(quote("/a b/c", ""), "%2Fa%20b%2Fc");
    EXPECT_EQ(quote("a&b=c", "&="), "a&b=c");
    EXPECT_EQ(quote("100%"), "100%25");
    EXPECT_EQ(quote("\xC3\xA9"), "%C3%A9");
    EXPECT_EQ(quote(std::string_view("\0\n", 2)), "%00%0A");
    EXPECT_EQ(quote(""), "");
}

TEST(Unquote, DecodesAndLeavesInvalidEscapes) {
    using aio::http::unquote;
    EXPECT_EQ(unquote("a%20b%2Fc"), "a b/c");
    EXPECT_EQ(unquote("%c3%A9"), "\xC3\xA9");
    EXPECT_EQ(unquote("a+b"), "a+b");
    EXPECT_EQ(unquote("a+b%2B", true), "a b+");
    EXPECT_EQ(unquote("100%"), "100%");
    EXPECT_EQ(unquote("%4"), "%4");
    EXPECT_EQ(unquote("%zz%2"), "%zz%2");
    EXPECT_EQ(unquote("%00"), std::string(1, '\0'));
    EXPECT_EQ(unquote(""), "");
}

TEST(Quote, RoundTripsEveryByte) {
    std::string all;
    for (int i = 0; i < 256; ++i)
        all += static_cast<char>(i);
    EXPECT_EQ(aio::http::unquote(aio::http::quote(all)), all);
    EXPECT_EQ(aio::http::unquote(aio::http::quote(all, "")), all);
    EXPECT_EQ(aio::http::unquote(aio::http::quote(all, "!$&'()*+,;=:@/?")), all);
}

TEST(Urlencode, FormEncodingUsesPlusForSpace) {
    using aio::http::urlencode;
    EXPECT_EQ(urlencode({{"a", "b c"}, {"d/e", "f&g=h+i"}, {"e", ""}}), "a=b+c&d%2Fe=f%26g%3Dh%2Bi&e=");
    EXPECT_EQ(urlencode({{"n", "\xC3\xA9~"}}), "n=%C3%A9~");
    EXPECT_EQ(urlencode({}), "");
}

TEST(ParseQsl, DecodesKeepingBlankValues) {
    using aio::http::parse_qsl;
    EXPECT_EQ(parse_qsl("a=1&b=&c&&d=x=y&e=%20+"),
              (Pairs{{"a", "1"}, {"b", ""}, {"c", ""}, {"d", "x=y"}, {"e", "  "}}));
    EXPECT_EQ(parse_qsl("=v"), (Pairs{{"", "v"}}));
    EXPECT_TRUE(parse_qsl("").empty());
    EXPECT_TRUE(parse_qsl("&&").empty());
}

TEST(ParseQsl, RoundTripsUrlencode) {
    const Pairs pairs{{"a b", "c+d"}, {"", ""}, {"x", "&=%#?/"}, {"\xC3\xA9", "\xE2\x82\xAC"}, {"a b", "dup"}};
    EXPECT_EQ(aio::http::parse_qsl(aio::http::urlencode(pairs)), pairs);
    const URL u = URL("http://h/").with_query(pairs);
    EXPECT_EQ(u.query(), pairs);
}
