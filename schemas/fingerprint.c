/*
 * Parsing Canonical Form and CRC-64-AVRO (see fingerprint.h).
 *
 * The canonical form is written straight from the jansson tree while walking
 * it: PRIMITIVES (a primitive in an object collapses to its name), FULLNAMES
 * (every name and reference becomes a full name), STRIP (only name, type,
 * fields, symbols, items, values and size survive; doc, aliases, default,
 * order, namespace, logicalType and the rest go), ORDER (attributes in that
 * order), STRINGS (jansson already decoded the escapes; the names, symbols
 * and type words it emits are validated Avro names, which never need
 * escaping), INTEGERS (printed by us) and WHITESPACE (none emitted).
 *
 * It must never accept a schema the Avro specification rejects in a way that
 * changes the form (unknown names, redefinitions, bad names), since two
 * writers would then disagree on a fingerprint.
 */
#include "schemas/fingerprint.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any real schema, shallow enough for any stack. */
#define XL_CANON_MAX_DEPTH 256

typedef struct st_xl_canon_t {
    xl_buf_t *out;
    json_t *names; /* full names defined so far, as object keys */
    char *err;
    size_t errlen;
} xl_canon_t;

static const char *const xl_canon_primitives[] = {"null",  "boolean", "int",   "long",
                                                  "float", "double",  "bytes", "string"};

static uint64_t xl_crc64_table[256];
static pthread_once_t xl_crc64_once = PTHREAD_ONCE_INIT;

static void xl_crc64_init(void)
{
    for (unsigned i = 0; i < 256; ++i) {
        uint64_t fp = i;
        for (int j = 0; j < 8; ++j)
            fp = (fp >> 1) ^ (XL_CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        xl_crc64_table[i] = fp;
    }
}

uint64_t xl_crc64_avro_update(uint64_t fp, const void *p, size_t len)
{
    const unsigned char *b = p;
    pthread_once(&xl_crc64_once, xl_crc64_init);
    for (size_t i = 0; i < len; ++i)
        fp = (fp >> 8) ^ xl_crc64_table[(fp ^ b[i]) & 0xff];
    return fp;
}

uint64_t xl_crc64_avro(const void *p, size_t len)
{
    return xl_crc64_avro_update(XL_CRC64_AVRO_EMPTY, p, len);
}

__attribute__((format(printf, 2, 3))) static int xl_canon_fail(xl_canon_t *cx, const char *fmt, ...)
{
    if (cx->err != NULL && cx->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cx->err, cx->errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int xl_canon_put(xl_canon_t *cx, const char *s)
{
    return xl_buf_append(cx->out, s, strlen(s));
}

static int xl_canon_put_quoted(xl_canon_t *cx, const char *s)
{
    int rc;
    if ((rc = xl_buf_append(cx->out, "\"", 1)) != 0 || (rc = xl_canon_put(cx, s)) != 0)
        return rc;
    return xl_buf_append(cx->out, "\"", 1);
}

static int xl_canon_is_primitive(const char *s)
{
    for (size_t i = 0; i < sizeof(xl_canon_primitives) / sizeof(xl_canon_primitives[0]); ++i)
        if (strcmp(s, xl_canon_primitives[i]) == 0)
            return 1;
    return 0;
}

/* [A-Za-z_][A-Za-z0-9_]* over s[0..len) */
static int xl_canon_valid_simple(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; ++i) {
        char c = s[i];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!alpha && (i == 0 || c < '0' || c > '9'))
            return 0;
    }
    return 1;
}

/* Dot-separated simple names; "" is the null namespace when allow_empty. */
static int xl_canon_valid_dotted(const char *s, int allow_empty)
{
    if (*s == '\0')
        return allow_empty;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);
        if (!xl_canon_valid_simple(s, n))
            return 0;
        if (dot == NULL)
            return 1;
        s = dot + 1;
    }
}

/* malloc'd "ns.name", or a copy of name when it is already full or ns is null. */
static char *xl_canon_join(const char *ns, const char *name)
{
    size_t nslen = strchr(name, '.') == NULL ? strlen(ns) : 0;
    size_t namelen = strlen(name);
    char *full = malloc(nslen + 1 + namelen + 1);
    if (full == NULL)
        return NULL;
    if (nslen > 0) {
        memcpy(full, ns, nslen);
        full[nslen] = '.';
        memcpy(full + nslen + 1, name, namelen + 1);
    } else {
        memcpy(full, name, namelen + 1);
    }
    return full;
}

/*
 * A reference to a named type that must already be defined. As the spec says
 * (and python-avro does), a name without a dot lives in the enclosing
 * namespace; Java's extra fallback to the null namespace is not followed.
 */
static int xl_canon_reference(xl_canon_t *cx, const char *name, const char *ns)
{
    int rc;
    char *full = NULL;

    if (!xl_canon_valid_dotted(name, 0)) {
        rc = xl_canon_fail(cx, "invalid type name \"%s\"", name);
        goto exit;
    }
    if ((full = xl_canon_join(ns, name)) == NULL) {
        rc = -ENOMEM;
        goto exit;
    }
    if (json_object_get(cx->names, full) != NULL)
        rc = xl_canon_put_quoted(cx, full);
    else
        rc = xl_canon_fail(cx, "unknown type \"%s\"", full);
exit:
    free(full);
    return rc;
}

static int xl_canon_node(xl_canon_t *cx, json_t *node, const char *ns, int depth);

static int xl_canon_fields(xl_canon_t *cx, json_t *fields, const char *ns, int depth)
{
    int rc;
    size_t i;
    json_t *field;

    if (!json_is_array(fields))
        return xl_canon_fail(cx, "record \"fields\" must be an array");
    if ((rc = xl_canon_put(cx, ",\"fields\":[")) != 0)
        return rc;
    json_array_foreach(fields, i, field)
    {
        const char *fname = json_string_value(json_object_get(field, "name"));
        json_t *ftype = json_object_get(field, "type");
        if (fname == NULL || ftype == NULL)
            return xl_canon_fail(cx, "record field %zu needs a \"name\" and a \"type\"", i);
        if (!xl_canon_valid_simple(fname, strlen(fname)))
            return xl_canon_fail(cx, "invalid field name \"%s\"", fname);
        if ((rc = xl_canon_put(cx, i == 0 ? "{\"name\":" : ",{\"name\":")) != 0 ||
            (rc = xl_canon_put_quoted(cx, fname)) != 0 || (rc = xl_canon_put(cx, ",\"type\":")) != 0 ||
            (rc = xl_canon_node(cx, ftype, ns, depth + 1)) != 0 || (rc = xl_canon_put(cx, "}")) != 0)
            return rc;
    }
    return xl_canon_put(cx, "]");
}

static int xl_canon_symbols(xl_canon_t *cx, json_t *symbols)
{
    int rc;
    size_t i;
    json_t *sym;

    if (!json_is_array(symbols))
        return xl_canon_fail(cx, "enum \"symbols\" must be an array");
    if ((rc = xl_canon_put(cx, ",\"symbols\":[")) != 0)
        return rc;
    json_array_foreach(symbols, i, sym)
    {
        const char *s = json_string_value(sym);
        if (s == NULL || !xl_canon_valid_simple(s, strlen(s)))
            return xl_canon_fail(cx, "invalid enum symbol at %zu", i);
        if ((i > 0 && (rc = xl_canon_put(cx, ",")) != 0) || (rc = xl_canon_put_quoted(cx, s)) != 0)
            return rc;
    }
    return xl_canon_put(cx, "]");
}

/* record, error, enum, fixed: define the full name, then emit the body. */
static int xl_canon_named(xl_canon_t *cx, json_t *node, const char *type, const char *ns, int depth)
{
    int rc;
    char *full = NULL;
    json_t *jns = json_object_get(node, "namespace");
    const char *name = json_string_value(json_object_get(node, "name"));

    if (name == NULL) {
        rc = xl_canon_fail(cx, "%s needs a \"name\"", type);
        goto exit;
    }
    /* an explicit namespace (even "") replaces the enclosing one */
    if (jns != NULL && !json_is_null(jns)) {
        if (!json_is_string(jns) || !xl_canon_valid_dotted(json_string_value(jns), 1)) {
            rc = xl_canon_fail(cx, "invalid namespace for \"%s\"", name);
            goto exit;
        }
        ns = json_string_value(jns);
    }
    if (!xl_canon_valid_dotted(name, 0)) {
        rc = xl_canon_fail(cx, "invalid type name \"%s\"", name);
        goto exit;
    }
    if ((full = xl_canon_join(ns, name)) == NULL) {
        rc = -ENOMEM;
        goto exit;
    }
    if (xl_canon_is_primitive(full) || json_object_get(cx->names, full) != NULL) {
        rc = xl_canon_fail(cx, "type \"%s\" is defined twice or shadows a primitive", full);
        goto exit;
    }
    /* defined before the body: a record may refer to itself */
    if (json_object_set_new(cx->names, full, json_true()) != 0) {
        rc = -ENOMEM;
        goto exit;
    }
    if ((rc = xl_canon_put(cx, "{\"name\":")) != 0 || (rc = xl_canon_put_quoted(cx, full)) != 0 ||
        (rc = xl_canon_put(cx, ",\"type\":")) != 0 || (rc = xl_canon_put_quoted(cx, type)) != 0)
        goto exit;

    if (strcmp(type, "enum") == 0) {
        rc = xl_canon_symbols(cx, json_object_get(node, "symbols"));
    } else if (strcmp(type, "fixed") == 0) {
        json_t *size = json_object_get(node, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            rc = xl_canon_fail(cx, "fixed \"%s\" needs a non-negative integer \"size\"", full);
            goto exit;
        }
        char num[32];
        snprintf(num, sizeof(num), ",\"size\":%" JSON_INTEGER_FORMAT, json_integer_value(size));
        rc = xl_canon_put(cx, num);
    } else {
        /* fields live in the namespace of the record's full name */
        char *dot = strrchr(full, '.');
        if (dot != NULL)
            *dot = '\0';
        rc = xl_canon_fields(cx, json_object_get(node, "fields"), dot != NULL ? full : "", depth);
    }
    if (rc == 0)
        rc = xl_canon_put(cx, "}");
exit:
    free(full);
    return rc;
}

static int xl_canon_object(xl_canon_t *cx, json_t *node, const char *ns, int depth)
{
    int rc;
    const char *type = json_string_value(json_object_get(node, "type"));

    if (type == NULL)
        return xl_canon_fail(cx, "schema object needs a string \"type\"");
    if (xl_canon_is_primitive(type))
        return xl_canon_put_quoted(cx, type); /* drops logicalType and the rest */
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 || strcmp(type, "enum") == 0 ||
        strcmp(type, "fixed") == 0)
        return xl_canon_named(cx, node, type, ns, depth);
    if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
        const char *attr = type[0] == 'a' ? "items" : "values";
        json_t *child = json_object_get(node, attr);
        if (child == NULL)
            return xl_canon_fail(cx, "%s needs \"%s\"", type, attr);
        if ((rc = xl_canon_put(cx, "{\"type\":")) != 0 || (rc = xl_canon_put_quoted(cx, type)) != 0 ||
            (rc = xl_canon_put(cx, ",\"")) != 0 || (rc = xl_canon_put(cx, attr)) != 0 ||
            (rc = xl_canon_put(cx, "\":")) != 0 || (rc = xl_canon_node(cx, child, ns, depth + 1)) != 0)
            return rc;
        return xl_canon_put(cx, "}");
    }
    /* {"type":"some.Name"}: a reference written as an object */
    return xl_canon_reference(cx, type, ns);
}

static int xl_canon_node(xl_canon_t *cx, json_t *node, const char *ns, int depth)
{
    int rc;

    if (depth > XL_CANON_MAX_DEPTH)
        return xl_canon_fail(cx, "schema nested deeper than %d", XL_CANON_MAX_DEPTH);
    switch (json_typeof(node)) {
    case JSON_STRING: {
        const char *s = json_string_value(node);
        if (xl_canon_is_primitive(s))
            return xl_canon_put_quoted(cx, s);
        return xl_canon_reference(cx, s, ns);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *branch;
        if ((rc = xl_canon_put(cx, "[")) != 0)
            return rc;
        json_array_foreach(node, i, branch)
        {
            if ((i > 0 && (rc = xl_canon_put(cx, ",")) != 0) || (rc = xl_canon_node(cx, branch, ns, depth + 1)) != 0)
                return rc;
        }
        return xl_canon_put(cx, "]");
    }
    case JSON_OBJECT:
        return xl_canon_object(cx, node, ns, depth);
    default:
        return xl_canon_fail(cx, "a schema is a string, an array or an object");
    }
}

int xl_schema_canonical_form(const char *json, size_t len, xl_buf_t *out, char *err, size_t errlen)
{
    int rc;
    size_t start = out->len;
    json_error_t jerr;
    json_t *root = NULL;
    xl_canon_t cx = {.out = out, .names = NULL, .err = err, .errlen = errlen};

    if ((root = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        rc = xl_canon_fail(&cx, "schema is not JSON: %s at line %d column %d", jerr.text, jerr.line, jerr.column);
        goto exit;
    }
    if ((cx.names = json_object()) == NULL) {
        rc = -ENOMEM;
        goto exit;
    }
    if ((rc = xl_canon_node(&cx, root, "", 0)) != 0)
        goto exit;
    /* keep a NUL after the text for callers that print it */
    if ((rc = xl_buf_reserve(out, 1)) != 0)
        goto exit;
    out->base[out->len] = '\0';
exit:
    if (rc != 0) {
        out->len = start;
        if (rc == -ENOMEM)
            xl_canon_fail(&cx, "out of memory");
    }
    json_decref(cx.names);
    json_decref(root);
    return rc;
}

int xl_schema_fingerprint(const char *json, size_t len, uint64_t *fp, char *err, size_t errlen)
{
    xl_buf_t canon;
    xl_buf_init(&canon);
    int rc = xl_schema_canonical_form(json, len, &canon, err, errlen);
    if (rc == 0)
        *fp = xl_crc64_avro(canon.base, canon.len);
    xl_buf_dispose(&canon);
    return rc;
}
