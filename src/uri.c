/* Percent-encoding and endpoint parsing (see uri.h). */
#include "uri.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

void pfs_uri_encode(struct pfs_buf *out, const char *s, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0; /* bytes copied verbatim in one append */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            run++;
            continue;
        }
        pfs_buf_append(out, s + i - run, run);
        run = 0;
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        pfs_buf_append(out, esc, 3);
    }
    pfs_buf_append(out, s + len - run, run);
}

int pfs_uri_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int decode(struct pfs_buf *out, const char *s, size_t len, bool plus_is_space)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+' && plus_is_space) {
            pfs_buf_putc(out, ' ');
            continue;
        }
        if (s[i] != '%') {
            pfs_buf_putc(out, s[i]);
            continue;
        }
        if (i + 2 >= len)
            return -EINVAL;
        int hi = pfs_uri_hexval(s[i + 1]), lo = pfs_uri_hexval(s[i + 2]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        pfs_buf_putc(out, (char)(hi * 16 + lo));
        i += 2;
    }
    return pfs_buf_status(out);
}

int pfs_uri_decode(struct pfs_buf *out, const char *s, size_t len)
{
    return decode(out, s, len, false);
}

int pfs_uri_decode_form(struct pfs_buf *out, const char *s, size_t len)
{
    return decode(out, s, len, true);
}

static bool valid_dns_host(const char *h, size_t n)
{
    if (n == 0 || n > PFS_HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!(isalnum(c) || c == '-' || c == '.' || c == '_'))
            return false;
    }
    return h[0] != '.' && h[0] != '-';
}

int pfs_endpoint_parse(struct pfs_endpoint *out, const char *text, const char **why)
{
    memset(out, 0, sizeof(*out));
    const char *p;
    if (strncmp(text, "https://", 8) == 0) {
        out->https = true;
        p = text + 8;
    } else if (strncmp(text, "http://", 7) == 0) {
        p = text + 7;
    } else {
        *why = "it must start with http:// or https://";
        return -EINVAL;
    }

    const char *host = p, *host_end;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) {
            *why = "an IPv6 address must be closed with ']'";
            return -EINVAL;
        }
        host_end++;
        char v6[64];
        size_t n = (size_t)(host_end - host) - 2;
        struct in6_addr a6;
        if (n < sizeof(v6)) {
            memcpy(v6, host + 1, n);
            v6[n] = '\0';
        }
        if (n >= sizeof(v6) || inet_pton(AF_INET6, v6, &a6) != 1) {
            *why = "the text between '[' and ']' is not an IPv6 address";
            return -EINVAL;
        }
        out->host_is_ip = true;
        p = host_end;
    } else {
        while (*p && *p != ':' && *p != '/')
            p++;
        host_end = p;
        if (!valid_dns_host(host, (size_t)(host_end - host))) {
            *why = "the host name is empty or has characters other than letters, digits, '-', "
                   "'.' and '_'";
            return -EINVAL;
        }
    }
    size_t hn = (size_t)(host_end - host);
    if (hn > PFS_HOST_MAX) {
        *why = "the host name is longer than 255 bytes";
        return -EINVAL;
    }
    for (size_t i = 0; i < hn; i++)
        out->host[i] = (char)tolower((unsigned char)host[i]);
    out->host[hn] = '\0';
    if (!out->host_is_ip) {
        struct in_addr a4;
        out->host_is_ip = inet_pton(AF_INET, out->host, &a4) == 1;
    }

    if (*p == ':') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            *why = "the port must be a number";
            return -EINVAL;
        }
        unsigned long port = 0;
        while (isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (unsigned long)(*p++ - '0');
        if (port == 0 || port > 65535 || isdigit((unsigned char)*p)) {
            *why = "the port must be between 1 and 65535";
            return -EINVAL;
        }
        out->port = (unsigned)port;
        if ((out->https && port == 443) || (!out->https && port == 80))
            out->port = 0;
    }
    if (*p == '/')
        p++;
    if (*p != '\0') {
        *why = "it must be scheme://host[:port] with no path, query or user name";
        return -EINVAL;
    }
    return 0;
}

void pfs_endpoint_authority(struct pfs_buf *out, const struct pfs_endpoint *ep,
                            const char *bucket_prefix)
{
    if (bucket_prefix) {
        pfs_buf_puts(out, bucket_prefix);
        pfs_buf_putc(out, '.');
    }
    pfs_buf_puts(out, ep->host);
    if (ep->port)
        pfs_buf_printf(out, ":%u", ep->port);
}
