/*
 * config.c: load s3mux.yaml into a struct s3mux_config.
 *
 * The file is read with libyaml's document API, so every node keeps its line and column.
 * What a mapping may hold is a schema: a table of (key, type, offset, flags, default) lines
 * walked by one generic routine; a nested mapping or a list of mappings points at its own
 * table, so adding a key is adding one line.  Checks that span sections (unique names,
 * references from one section to another) run on the finished struct afterwards and find
 * the offending node again to report its position.  config_free() walks the same tables.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "log.h"
#include "util.h"

/* ---- roles ------------------------------------------------------------------------------ */

static const char *const role_names[ROLE_COUNT] = {
	"replicator", "lifecycle", "cleanup", "scrubber", "reaper", "notifier", "rebalancer",
};

const char *
role_name(enum role_id id)
{
	return (unsigned)id < ROLE_COUNT ? role_names[id] : NULL;
}

int
role_by_name(const char *name)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (strcmp(name, role_names[i]) == 0)
			return i;
	return -1;
}

/* ---- the schema language ---------------------------------------------------------------- */

enum cfg_type {
	CFG_STRING,		/* char *; not empty unless CFG_EMPTY */
	CFG_PATH,		/* char *; relative to the config's directory, stored absolute */
	CFG_SECRET,		/* char *; a secret written inline, wiped when freed */
	CFG_SECRET_FILE,	/* char *; the contents of the named file, wiped when freed */
	CFG_URL,		/* char *; http:// or https:// */
	CFG_ADDR,		/* char *; host:port */
	CFG_KEYWORD,		/* char *; one of the names in aux (struct cfg_keyword[]) */
	CFG_ENUM,		/* an enum; one of the names in aux */
	CFG_INT,		/* int, 0 or more */
	CFG_UINT64,		/* uint64_t */
	CFG_WORKERS,		/* int; "auto" is 0 */
	CFG_BOOL,		/* int, 0 or 1 */
	CFG_SIZE,		/* uint64_t bytes, "10GiB" */
	CFG_DURATION,		/* int64_t milliseconds, "90d" */
	CFG_STRLIST,		/* char ** with its count (size_t) at count_off */
	CFG_MAP,		/* a nested mapping described by aux (struct cfg_schema) */
	CFG_INLINE,		/* no key: aux's keys are accepted in this mapping */
	CFG_LIST,		/* a sequence of mappings described by aux; count at count_off */
	CFG_ROLES,		/* a mapping of role name to a mapping; aux: a schema per role id */
	CFG_NTYPES
};

#define CFG_REQ		0x01	/* must be given */
#define CFG_EMPTY	0x02	/* a string may be empty */
#define CFG_ALT		0x04	/* one of several keys for one member (same offset) */
#define CFG_POS		0x08	/* a number, size or duration must be above zero */
#define CFG_VAR_A	0x10	/* applies only in variant A of the mapping (schema.variant) */
#define CFG_VAR_B	0x20	/* applies only in variant B */
#define CFG_VREQ	0x40	/* required where its variant applies */
#define CFG_VARIANTS	(CFG_VAR_A | CFG_VAR_B)

/* The variants: a backend's driver, and a lifecycle rule with or without a transition. */
#define CFG_FS		CFG_VAR_A
#define CFG_S3		CFG_VAR_B
#define CFG_MOVES	CFG_VAR_A

struct cfg_keyword {
	const char *name;
	int value;
};

struct cfg_field {
	const char *key;
	enum cfg_type type;
	size_t off;		/* of the member in the struct the schema describes */
	unsigned flags;
	const char *def;	/* the default, spelt as in the file; NULL: zero */
	const void *aux;	/* keywords or a sub-schema */
	size_t count_off;	/* lists: where the number of entries goes */
};

struct cfg_ctx;

struct cfg_schema {
	const struct cfg_field *fields;
	size_t nfields;
	size_t size;		/* of one element, for lists */
	/* Which variant fields apply (CFG_VAR_*), and a note naming it ("driver fs"). */
	unsigned (*variant)(const void *obj, const char **note);
	/* Checks on one mapping once all its keys are in. */
	int (*check)(struct cfg_ctx *ctx, yaml_node_t *map, void *obj);
};

/* The state of one load: no globals. */
struct cfg_ctx {
	const char *file;		/* as given, for messages */
	const char *dir;		/* absolute: the base of relative paths */
	yaml_document_t *doc;
	yaml_node_t *root;		/* NULL for an empty file */
	char *errbuf;
	size_t errsize;
	char where[256];		/* "backends[1].limits": where the walk is */
};

#define CFG_F(type, key, t, member, flags, def, aux) \
	{ (key), (t), offsetof(type, member), (flags), (def), (aux), 0 }
#define CFG_SL(type, key, member, count, flags, def) \
	{ (key), CFG_STRLIST, offsetof(type, member), (flags), (def), NULL, offsetof(type, count) }
#define CFG_L(type, key, member, count, flags, schema) \
	{ (key), CFG_LIST, offsetof(type, member), (flags), NULL, (schema), offsetof(type, count) }
#define CFG_SCHEMA(fields, type, variant, check) \
	{ (fields), nitems(fields), sizeof(type), (variant), (check) }

#define CFG_MAX_FIELDS	64

/* ---- errors and positions --------------------------------------------------------------- */

static int cfg_err(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cfg_err(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (node != NULL)
		snprintf(ctx->errbuf, ctx->errsize, "%s:%zu:%zu: %s", ctx->file,
		    node->start_mark.line + 1, node->start_mark.column + 1, msg);
	else
		snprintf(ctx->errbuf, ctx->errsize, "%s: %s", ctx->file, msg);
	return -1;
}

/* " in backends[1]", or "" at the top level: for "unknown key 'x'%s%s". */
static const char *
cfg_in(const struct cfg_ctx *ctx)
{
	return ctx->where[0] != '\0' ? " in " : "";
}

static size_t
cfg_push(struct cfg_ctx *ctx, const char *key, size_t index)
{
	size_t len = strlen(ctx->where);
	char *end = ctx->where + len;
	size_t room = sizeof(ctx->where) - len;
	if (key == NULL)
		snprintf(end, room, "[%zu]", index);
	else
		snprintf(end, room, "%s%s", len ? "." : "", key);
	return len;
}

static void
cfg_pop(struct cfg_ctx *ctx, size_t len)
{
	ctx->where[len] = '\0';
}

/* ---- YAML nodes ------------------------------------------------------------------------- */

static yaml_node_t *
cfg_node(struct cfg_ctx *ctx, int index)
{
	return yaml_document_get_node(ctx->doc, index);
}

static const char *
cfg_scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/* A plain "", "~" or "null": YAML's way of writing nothing. */
static int
cfg_is_null(const yaml_node_t *node)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (size_t i = 0; i < nitems(nulls); i++)
		if (strcmp(cfg_scalar(node), nulls[i]) == 0)
			return 1;
	return 0;
}

static const char *
cfg_kind(const yaml_node_t *node)
{
	if (cfg_is_null(node))
		return "an empty value";
	switch (node->type) {
	case YAML_SEQUENCE_NODE: return "a sequence";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "a scalar";
	}
}

static size_t
cfg_map_len(const yaml_node_t *map)
{
	return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

static size_t
cfg_seq_len(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static yaml_node_t *
cfg_seq_item(struct cfg_ctx *ctx, const yaml_node_t *seq, size_t i)
{
	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE || i >= cfg_seq_len(seq))
		return NULL;
	return cfg_node(ctx, seq->data.sequence.items.start[i]);
}

/* The key node (want_key) or the value node of `key` in a mapping; NULL when absent. */
static yaml_node_t *
cfg_map_get(struct cfg_ctx *ctx, const yaml_node_t *map, const char *key, int want_key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(ctx, p->key);
		if (k->type == YAML_SCALAR_NODE && strcmp(cfg_scalar(k), key) == 0)
			return want_key ? k : cfg_node(ctx, p->value);
	}
	return NULL;
}

/* The value node of top[section][index][key] (index SIZE_MAX: section is a mapping). */
static yaml_node_t *
cfg_locate(struct cfg_ctx *ctx, const char *section, size_t index, const char *key)
{
	yaml_node_t *node = cfg_map_get(ctx, ctx->root, section, 0);
	if (index != SIZE_MAX)
		node = cfg_seq_item(ctx, node, index);
	return key != NULL ? cfg_map_get(ctx, node, key, 0) : node;
}

/* ---- paths and secrets ------------------------------------------------------------------ */

static char *
cfg_resolve(const char *dir, const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	if (*path == '\0' || strcmp(path, ".") == 0)
		return xstrdup(dir);
	return xasprintf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, path);
}

static void
cfg_wipe(char *secret)
{
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(secret);
}

/* Read a secrets file; strip one trailing newline; warn when others may read it. */
static char *
cfg_read_secret(struct cfg_ctx *ctx, const yaml_node_t *key, const char *path)
{
	char *secret = file_read_small(path, 64 * 1024);
	if (secret == NULL) {
		cfg_err(ctx, key, "cannot read secrets file %s for '%s': %s", path,
		    cfg_scalar(key), strerror(errno));
		return NULL;
	}
	size_t len = strlen(secret);
	if (len > 0 && secret[len - 1] == '\n')
		secret[--len] = '\0';
	if (len > 0 && secret[len - 1] == '\r')
		secret[--len] = '\0';
	if (len == 0) {
		cfg_err(ctx, key, "secrets file %s for '%s' is empty", path, cfg_scalar(key));
		cfg_wipe(secret);
		return NULL;
	}
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		log_warnx("%s:%zu:%zu: secrets file %s is readable by others; chmod 600 it",
		    ctx->file, key->start_mark.line + 1, key->start_mark.column + 1, path);
	return secret;
}

/* ---- scalar parsers --------------------------------------------------------------------- */

static int
cfg_parse_uint(const char *text, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;
	if (*text == '\0')
		return -1;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned digit = (unsigned)(*p - '0');
		if (n > (max - digit) / 10)
			return -1;
		n = n * 10 + digit;
	}
	*out = n;
	return 0;
}

/* "host:port" or "[v6]:port", port 1-65535. Returns NULL or what is wrong. */
static const char *
cfg_check_addr(const char *text)
{
	const char *colon = strrchr(text, ':');
	if (colon == NULL)
		return "no port";
	size_t hostlen = (size_t)(colon - text);
	if (hostlen == 0)
		return "no host (use 0.0.0.0 or [::] for every address)";
	if (text[0] == '[' && (hostlen < 3 || text[hostlen - 1] != ']'))
		return "an IPv6 address goes in brackets, as in [::1]:9000";
	if (text[0] != '[' && memchr(text, ':', hostlen) != NULL)
		return "an IPv6 address goes in brackets, as in [::1]:9000";
	uint64_t port;
	if (cfg_parse_uint(colon + 1, 65535, &port) == -1 || port == 0)
		return "the port must be a number from 1 to 65535";
	return NULL;
}

static const struct cfg_keyword *
cfg_keyword_find(const struct cfg_keyword *kw, const char *name)
{
	for (; kw->name != NULL; kw++)
		if (strcmp(kw->name, name) == 0)
			return kw;
	return NULL;
}

/* "spread or pack", "a, b or c". */
static void
cfg_keyword_list(const struct cfg_keyword *kw, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; kw[i].name != NULL && len < size; i++) {
		const char *sep = i == 0 ? "" : kw[i + 1].name == NULL ? " or " : ", ";
		int n = snprintf(buf + len, size - len, "%s%s", sep, kw[i].name);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* ---- setters: one per type -------------------------------------------------------------- */

/*
 * A setter stores the value node `val` of the key node `key` into `slot`.  With val NULL
 * (the key is absent) it stores the field's default, if any.
 */
typedef int (*cfg_setter)(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot,
    yaml_node_t *key, yaml_node_t *val);

static const char *cfg_what(enum cfg_type type);
static int cfg_check_duplicates(struct cfg_ctx *ctx, const yaml_node_t *map);
static int cfg_walk(struct cfg_ctx *ctx, const struct cfg_schema *s, yaml_node_t *map,
    void *obj);

/* The text of a scalar value, or the default; NULL text with 0: nothing to store. */
static int
cfg_text(struct cfg_ctx *ctx, const struct cfg_field *f, yaml_node_t *val, const char **text)
{
	*text = f->def;
	if (val == NULL)
		return 0;
	if (val->type != YAML_SCALAR_NODE)
		return cfg_err(ctx, val, "expected %s for '%s', got %s", cfg_what(f->type),
		    f->key, cfg_kind(val));
	*text = cfg_scalar(val);
	if (strlen(*text) != val->data.scalar.length)
		return cfg_err(ctx, val, "unexpected NUL character in '%s'", f->key);
	return 0;
}

static void
cfg_store(void *slot, char *value)
{
	char **p = slot;
	free(*p);
	*p = value;
}

/* The text of a non-empty string value (unless CFG_EMPTY). */
static int
cfg_string_text(struct cfg_ctx *ctx, const struct cfg_field *f, yaml_node_t *val,
    const char **text)
{
	if (cfg_text(ctx, f, val, text) == -1)
		return -1;
	if (*text != NULL && **text == '\0' && !(f->flags & CFG_EMPTY))
		return cfg_err(ctx, val, "expected a non-empty string for '%s'", f->key);
	return 0;
}

static int
cfg_set_string(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const char *text;
	if (cfg_string_text(ctx, f, val, &text) == -1)
		return -1;
	if (text != NULL)
		cfg_store(slot, xstrdup(text));
	return 0;
}

static int
cfg_set_path(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const char *text;
	if (cfg_string_text(ctx, f, val, &text) == -1)
		return -1;
	if (text != NULL)
		cfg_store(slot, cfg_resolve(ctx->dir, text));
	return 0;
}

static int
cfg_set_secret_file(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot,
    yaml_node_t *key, yaml_node_t *val)
{
	const char *text;
	if (cfg_string_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL || key == NULL)
		return 0;
	char *path = cfg_resolve(ctx->dir, text);
	char *secret = cfg_read_secret(ctx, key, path);
	free(path);
	if (secret == NULL)
		return -1;
	cfg_wipe(*(char **)slot);
	*(char **)slot = secret;
	return 0;
}

static int
cfg_set_url(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const char *text;
	if (cfg_string_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if (strncmp(text, "http://", 7) != 0 && strncmp(text, "https://", 8) != 0)
		return cfg_err(ctx, val, "expected an http:// or https:// URL for '%s', got '%s'",
		    f->key, text);
	cfg_store(slot, xstrdup(text));
	return 0;
}

static int
cfg_set_addr(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const char *text, *why;
	if (cfg_string_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if ((why = cfg_check_addr(text)) != NULL)
		return cfg_err(ctx, val, "expected an address host:port for '%s', got '%s': %s",
		    f->key, text, why);
	cfg_store(slot, xstrdup(text));
	return 0;
}

/* The keyword named by the value or the default; NULL with 0: nothing to store. */
static int
cfg_keyword_value(struct cfg_ctx *ctx, const struct cfg_field *f, yaml_node_t *val,
    const struct cfg_keyword **found)
{
	const char *text;
	*found = NULL;
	if (cfg_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if ((*found = cfg_keyword_find(f->aux, text)) != NULL)
		return 0;
	char names[256];
	cfg_keyword_list(f->aux, names, sizeof(names));
	return cfg_err(ctx, val, "expected %s for '%s', got '%s'", names, f->key, text);
}

static int
cfg_set_keyword(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const struct cfg_keyword *kw;
	if (cfg_keyword_value(ctx, f, val, &kw) == -1)
		return -1;
	if (kw != NULL)
		cfg_store(slot, xstrdup(kw->name));
	return 0;
}

_Static_assert(sizeof(enum backend_driver) == sizeof(int), "enums are stored as int");

static int
cfg_set_enum(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const struct cfg_keyword *kw;
	if (cfg_keyword_value(ctx, f, val, &kw) == -1)
		return -1;
	if (kw != NULL)
		*(int *)slot = kw->value;
	return 0;
}

/* A whole number up to max into *out; CFG_POS refuses 0. */
static int
cfg_number(struct cfg_ctx *ctx, const struct cfg_field *f, yaml_node_t *val, uint64_t max,
    uint64_t *out, int *given)
{
	const char *text;
	*given = 0;
	if (cfg_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if (cfg_parse_uint(text, max, out) == -1)
		return cfg_err(ctx, val, "expected a whole number from 0 to %ju for '%s', got '%s'",
		    (uintmax_t)max, f->key, text);
	if (*out == 0 && (f->flags & CFG_POS))
		return cfg_err(ctx, val, "expected a value above zero for '%s'", f->key);
	*given = 1;
	return 0;
}

static int
cfg_set_int(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	uint64_t n;
	int given;
	if (cfg_number(ctx, f, val, INT_MAX, &n, &given) == -1)
		return -1;
	if (given)
		*(int *)slot = (int)n;
	return 0;
}

static int
cfg_set_uint64(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	uint64_t n;
	int given;
	if (cfg_number(ctx, f, val, UINT64_MAX, &n, &given) == -1)
		return -1;
	if (given)
		*(uint64_t *)slot = n;
	return 0;
}

static int
cfg_set_workers(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const char *text;
	uint64_t n;
	if (cfg_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if (strcmp(text, "auto") == 0) {
		*(int *)slot = 0;
		return 0;
	}
	if (cfg_parse_uint(text, 4096, &n) == -1 || n == 0)
		return cfg_err(ctx, val, "expected auto or a number from 1 to 4096 for '%s', "
		    "got '%s'", f->key, text);
	*(int *)slot = (int)n;
	return 0;
}

static int
cfg_set_bool(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	static const struct cfg_keyword bools[] = {
		{ "true", 1 }, { "True", 1 }, { "TRUE", 1 },
		{ "false", 0 }, { "False", 0 }, { "FALSE", 0 },
		{ NULL, 0 },
	};
	const char *text;
	const struct cfg_keyword *kw;
	if (cfg_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if ((kw = cfg_keyword_find(bools, text)) == NULL)
		return cfg_err(ctx, val, "expected %s for '%s'", cfg_what(f->type), f->key);
	*(int *)slot = kw->value;
	return 0;
}

static int
cfg_set_size(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const char *text, *why;
	uint64_t bytes;
	if (cfg_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if (parse_size(text, &bytes, &why) == -1)
		return cfg_err(ctx, val, "expected %s for '%s': %s", cfg_what(f->type), f->key,
		    why);
	if (bytes == 0 && (f->flags & CFG_POS))
		return cfg_err(ctx, val, "expected a size above zero for '%s'", f->key);
	*(uint64_t *)slot = bytes;
	return 0;
}

static int
cfg_set_duration(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const char *text, *why;
	int64_t ms;
	if (cfg_text(ctx, f, val, &text) == -1)
		return -1;
	if (text == NULL)
		return 0;
	if (parse_duration(text, &ms, &why) == -1)
		return cfg_err(ctx, val, "expected %s for '%s': %s", cfg_what(f->type), f->key,
		    why);
	if (ms == 0 && (f->flags & CFG_POS))
		return cfg_err(ctx, val, "expected a duration above zero for '%s'", f->key);
	*(int64_t *)slot = ms;
	return 0;
}

static int
cfg_set_strlist(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	char ***list = slot;
	size_t *count = (size_t *)((char *)slot - f->off + f->count_off);
	if (val == NULL) {
		if (f->def != NULL) {
			*list = xcalloc(1, sizeof(char *));
			(*list)[0] = xstrdup(f->def);
			*count = 1;
		}
		return 0;
	}
	if (val->type != YAML_SEQUENCE_NODE)
		return cfg_err(ctx, val, "expected a sequence of strings for '%s', got %s",
		    f->key, cfg_kind(val));
	size_t n = cfg_seq_len(val);
	*list = xcalloc(n, sizeof(char *));
	*count = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, val, i);
		if (item->type != YAML_SCALAR_NODE || item->data.scalar.length == 0 ||
		    strlen(cfg_scalar(item)) != item->data.scalar.length)
			return cfg_err(ctx, item, "expected a non-empty string in '%s', got %s",
			    f->key, item->type == YAML_SCALAR_NODE ? "an empty one" :
			    cfg_kind(item));
		(*list)[i] = xstrdup(cfg_scalar(item));
	}
	return 0;
}

static int
cfg_set_map(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	if (val != NULL && val->type != YAML_MAPPING_NODE)
		return cfg_err(ctx, val, "expected a mapping for '%s', got %s", f->key,
		    cfg_kind(val));
	size_t mark = cfg_push(ctx, f->key, 0);
	int rc = cfg_walk(ctx, f->aux, val, slot);
	cfg_pop(ctx, mark);
	return rc;
}

static int
cfg_set_list(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	const struct cfg_schema *s = f->aux;
	if (val == NULL)
		return 0;
	if (val->type != YAML_SEQUENCE_NODE)
		return cfg_err(ctx, val, "expected a sequence for '%s', got %s", f->key,
		    cfg_kind(val));
	size_t n = cfg_seq_len(val);
	if (n == 0 && (f->flags & CFG_REQ))
		return cfg_err(ctx, val, "expected at least one entry in '%s'", f->key);
	char *elems = xcalloc(n, s->size);
	*(void **)slot = elems;
	*(size_t *)((char *)slot - f->off + f->count_off) = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, val, i);
		size_t mark = cfg_push(ctx, f->key, 0);
		cfg_push(ctx, NULL, i);
		int rc = item->type == YAML_MAPPING_NODE ?
		    cfg_walk(ctx, s, item, elems + i * s->size) :
		    cfg_err(ctx, item, "expected a mapping for %s, got %s", ctx->where,
		    cfg_kind(item));
		cfg_pop(ctx, mark);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* The mapping of each role named under roles (NULL for the others). */
static int
cfg_roles_collect(struct cfg_ctx *ctx, const struct cfg_field *f, yaml_node_t *val,
    yaml_node_t *maps[ROLE_COUNT])
{
	size_t mark = cfg_push(ctx, f->key, 0);
	int rc = cfg_check_duplicates(ctx, val);
	cfg_pop(ctx, mark);
	for (size_t i = 0; rc == 0 && i < cfg_map_len(val); i++) {
		yaml_node_pair_t *p = &val->data.mapping.pairs.start[i];
		yaml_node_t *k = cfg_node(ctx, p->key), *v = cfg_node(ctx, p->value);
		int id = k->type == YAML_SCALAR_NODE ? role_by_name(cfg_scalar(k)) : -1;
		if (id == -1)
			return cfg_err(ctx, k, "unknown role '%s' in %s (the roles are replicator, "
			    "lifecycle, cleanup, scrubber, reaper, notifier and rebalancer)",
			    k->type == YAML_SCALAR_NODE ? cfg_scalar(k) : "?", f->key);
		if (v->type != YAML_MAPPING_NODE && !cfg_is_null(v))
			return cfg_err(ctx, v, "expected a mapping for '%s', got %s",
			    cfg_scalar(k), cfg_kind(v));
		maps[id] = cfg_is_null(v) ? NULL : v;
	}
	return rc;
}

/* roles: { replicator: {...}, ... }; every role gets its defaults. */
static int
cfg_set_roles(struct cfg_ctx *ctx, const struct cfg_field *f, void *slot, yaml_node_t *key,
    yaml_node_t *val)
{
	yaml_node_t *maps[ROLE_COUNT] = { NULL };
	if (val != NULL && val->type != YAML_MAPPING_NODE)
		return cfg_err(ctx, val, "expected a mapping for '%s', got %s", f->key,
		    cfg_kind(val));
	if (val != NULL && cfg_roles_collect(ctx, f, val, maps) == -1)
		return -1;
	struct cfg_role *roles = slot;
	const struct cfg_schema *const *schemas = f->aux;
	for (int id = 0; id < ROLE_COUNT; id++) {
		size_t mark = cfg_push(ctx, f->key, 0);
		cfg_push(ctx, role_name(id), 0);
		int rc = cfg_walk(ctx, schemas[id], maps[id], &roles[id]);
		cfg_pop(ctx, mark);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* ---- releasing, per type ---------------------------------------------------------------- */

static void cfg_release(const struct cfg_schema *s, void *obj);

/* A string list or a list of mappings, and its count. */
static void
cfg_release_list(const struct cfg_field *f, void *slot)
{
	const struct cfg_schema *s = f->aux;
	char **array = slot;
	size_t *count = (size_t *)((char *)slot - f->off + f->count_off);
	for (size_t i = 0; *array != NULL && i < *count; i++) {
		if (f->type == CFG_STRLIST)
			free(((char **)*array)[i]);
		else
			cfg_release(s, *array + i * s->size);
	}
	free(*array);
	*array = NULL;
	*count = 0;
}

static void
cfg_release_field(const struct cfg_field *f, void *slot)
{
	switch (f->type) {
	case CFG_SECRET:
	case CFG_SECRET_FILE:
		cfg_wipe(*(char **)slot);
		*(char **)slot = NULL;
		break;
	case CFG_STRING: case CFG_PATH: case CFG_URL: case CFG_ADDR: case CFG_KEYWORD:
		free(*(char **)slot);
		*(char **)slot = NULL;
		break;
	case CFG_STRLIST:
	case CFG_LIST:
		cfg_release_list(f, slot);
		break;
	case CFG_MAP:
	case CFG_INLINE:
		cfg_release(f->aux, slot);
		break;
	default:
		break;
	}
}

static void
cfg_release(const struct cfg_schema *s, void *obj)
{
	for (size_t i = 0; i < s->nfields; i++)
		cfg_release_field(&s->fields[i], (char *)obj + s->fields[i].off);
}

/* ---- the type table --------------------------------------------------------------------- */

static const struct cfg_type_info {
	const char *what;	/* for "expected %s for 'key'" */
	cfg_setter set;
} cfg_types[CFG_NTYPES] = {
	[CFG_STRING] = { "a string", cfg_set_string },
	[CFG_PATH] = { "a path", cfg_set_path },
	[CFG_SECRET] = { "a string", cfg_set_string },
	[CFG_SECRET_FILE] = { "a path", cfg_set_secret_file },
	[CFG_URL] = { "a URL", cfg_set_url },
	[CFG_ADDR] = { "an address host:port", cfg_set_addr },
	[CFG_KEYWORD] = { "a keyword", cfg_set_keyword },
	[CFG_ENUM] = { "a keyword", cfg_set_enum },
	[CFG_INT] = { "a whole number", cfg_set_int },
	[CFG_UINT64] = { "a whole number", cfg_set_uint64 },
	[CFG_WORKERS] = { "auto or a number", cfg_set_workers },
	[CFG_BOOL] = { "a boolean (true or false)", cfg_set_bool },
	[CFG_SIZE] = { "a size such as 10GiB", cfg_set_size },
	[CFG_DURATION] = { "a duration such as 90d", cfg_set_duration },
	[CFG_STRLIST] = { "a sequence of strings", cfg_set_strlist },
	[CFG_MAP] = { "a mapping", cfg_set_map },
	[CFG_INLINE] = { "a mapping", NULL },
	[CFG_LIST] = { "a sequence", cfg_set_list },
	[CFG_ROLES] = { "a mapping", cfg_set_roles },
};

static const char *
cfg_what(enum cfg_type type)
{
	return cfg_types[type].what;
}

/* ---- the walk over one mapping ---------------------------------------------------------- */

/* The fields of a schema, inline ones flattened, each with the struct it writes into. */
struct cfg_walk {
	const struct cfg_field *field[CFG_MAX_FIELDS];
	char *slot[CFG_MAX_FIELDS];
	yaml_node_t *key[CFG_MAX_FIELDS];	/* the key node when given */
	size_t n;
};

static void
cfg_flatten(struct cfg_walk *w, const struct cfg_schema *s, char *base)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cfg_field *f = &s->fields[i];
		if (f->type == CFG_INLINE) {
			cfg_flatten(w, f->aux, base + f->off);
			continue;
		}
		if (w->n == CFG_MAX_FIELDS)
			fatalx("config: schema with more than %d keys", CFG_MAX_FIELDS);
		w->field[w->n] = f;
		w->slot[w->n] = base + f->off;
		w->n++;
	}
}

static int
cfg_check_duplicates(struct cfg_ctx *ctx, const yaml_node_t *map)
{
	yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
	for (size_t i = 1; i < cfg_map_len(map); i++) {
		yaml_node_t *k = cfg_node(ctx, pairs[i].key);
		if (k->type != YAML_SCALAR_NODE)
			continue;
		for (size_t j = 0; j < i; j++) {
			yaml_node_t *prev = cfg_node(ctx, pairs[j].key);
			if (prev->type == YAML_SCALAR_NODE &&
			    strcmp(cfg_scalar(prev), cfg_scalar(k)) == 0)
				return cfg_err(ctx, k, "duplicate key '%s'%s%s (first at line %zu)",
				    cfg_scalar(k), cfg_in(ctx), ctx->where,
				    prev->start_mark.line + 1);
		}
	}
	return 0;
}

static size_t
cfg_walk_find(const struct cfg_walk *w, const char *key)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->field[i]->key, key) == 0)
			return i;
	return SIZE_MAX;
}

/* The given field that is an alternative to field i (writes the same member), or SIZE_MAX. */
static size_t
cfg_walk_alt(const struct cfg_walk *w, size_t i)
{
	if (!(w->field[i]->flags & CFG_ALT))
		return SIZE_MAX;
	for (size_t j = 0; j < w->n; j++)
		if (j != i && w->key[j] != NULL && (w->field[j]->flags & CFG_ALT) &&
		    w->slot[j] == w->slot[i])
			return j;
	return SIZE_MAX;
}

static int
cfg_walk_pair(struct cfg_ctx *ctx, struct cfg_walk *w, yaml_node_t *k, yaml_node_t *v)
{
	if (k->type != YAML_SCALAR_NODE)
		return cfg_err(ctx, k, "expected a plain key%s%s, got %s", cfg_in(ctx),
		    ctx->where, cfg_kind(k));
	size_t i = cfg_walk_find(w, cfg_scalar(k));
	if (i == SIZE_MAX)
		return cfg_err(ctx, k, "unknown key '%s'%s%s", cfg_scalar(k), cfg_in(ctx),
		    ctx->where);
	if (cfg_is_null(v))
		return 0;
	size_t j = cfg_walk_alt(w, i);
	if (j != SIZE_MAX)
		return cfg_err(ctx, k, "give either '%s' or '%s'%s%s, not both",
		    w->field[j]->key, w->field[i]->key, cfg_in(ctx), ctx->where);
	w->key[i] = k;
	return cfg_types[w->field[i]->type].set(ctx, w->field[i], w->slot[i], k, v);
}

static int
cfg_walk_given(const struct cfg_walk *w, size_t i)
{
	return w->key[i] != NULL || cfg_walk_alt(w, i) != SIZE_MAX;
}

/* "'secret_key_file' or 'secret_key'": field i and its alternatives. */
static void
cfg_walk_names(const struct cfg_walk *w, size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "'%s'", w->field[i]->key);
	for (size_t j = i + 1; (w->field[i]->flags & CFG_ALT) && j < w->n; j++) {
		if (!(w->field[j]->flags & CFG_ALT) || w->slot[j] != w->slot[i])
			continue;
		size_t len = strlen(buf);
		snprintf(buf + len, size - len, " or '%s'", w->field[j]->key);
	}
}

/* The first required field not given: CFG_REQ ones, and CFG_VREQ ones of the variant mask. */
static int
cfg_walk_missing(struct cfg_ctx *ctx, const struct cfg_walk *w, const yaml_node_t *map,
    unsigned mask, const char *note)
{
	for (size_t i = 0; i < w->n; i++) {
		unsigned fl = w->field[i]->flags;
		int required = (fl & CFG_REQ) || ((fl & CFG_VREQ) && (fl & mask & CFG_VARIANTS));
		if (!required || cfg_walk_given(w, i))
			continue;
		char names[128];
		cfg_walk_names(w, i, names, sizeof(names));
		return cfg_err(ctx, map, "missing required key %s%s%s%s%s%s", names, cfg_in(ctx),
		    ctx->where, note ? " (" : "", note ? note : "", note ? ")" : "");
	}
	return 0;
}

/* A key given that belongs to another variant ("endpoint" for an fs backend). */
static int
cfg_walk_inapplicable(struct cfg_ctx *ctx, const struct cfg_walk *w, unsigned mask,
    const char *note)
{
	for (size_t i = 0; i < w->n; i++) {
		unsigned fl = w->field[i]->flags & CFG_VARIANTS;
		if (w->key[i] == NULL || fl == 0 || (fl & mask) != 0)
			continue;
		return cfg_err(ctx, w->key[i], "key '%s' does not apply%s%s%s%s%s",
		    w->field[i]->key, cfg_in(ctx), ctx->where, note ? " (" : "",
		    note ? note : "", note ? ")" : "");
	}
	return 0;
}

static int
cfg_walk_defaults(struct cfg_ctx *ctx, const struct cfg_walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		if (cfg_walk_given(w, i))
			continue;
		const struct cfg_field *f = w->field[i];
		if (cfg_types[f->type].set(ctx, f, w->slot[i], NULL, NULL) == -1)
			return -1;
	}
	return 0;
}

/* Fill obj from a mapping (NULL: an absent one, all defaults) described by s. */
static int
cfg_walk(struct cfg_ctx *ctx, const struct cfg_schema *s, yaml_node_t *map, void *obj)
{
	struct cfg_walk w = { .n = 0 };
	cfg_flatten(&w, s, obj);
	if (map != NULL && cfg_check_duplicates(ctx, map) == -1)
		return -1;
	for (size_t i = 0; map != NULL && i < cfg_map_len(map); i++) {
		yaml_node_pair_t *p = &map->data.mapping.pairs.start[i];
		if (cfg_walk_pair(ctx, &w, cfg_node(ctx, p->key), cfg_node(ctx, p->value)) == -1)
			return -1;
	}
	if (cfg_walk_missing(ctx, &w, map, 0, NULL) == -1)
		return -1;
	const char *note = NULL;
	unsigned mask = s->variant != NULL ? s->variant(obj, &note) : 0;
	if (cfg_walk_inapplicable(ctx, &w, mask, note) == -1 ||
	    cfg_walk_missing(ctx, &w, map, mask, note) == -1 ||
	    cfg_walk_defaults(ctx, &w) == -1)
		return -1;
	return s->check != NULL ? s->check(ctx, map, obj) : 0;
}

/* ---- per-mapping variants and checks ---------------------------------------------------- */

static unsigned
cfg_backend_variant(const void *obj, const char **note)
{
	const struct cfg_backend *b = obj;
	*note = b->driver == BACKEND_DRIVER_S3 ? "driver s3" : "driver fs";
	return b->driver == BACKEND_DRIVER_S3 ? CFG_S3 : CFG_FS;
}

/* A replication target is an S3 endpoint through and through. */
static unsigned
cfg_s3_variant(const void *obj, const char **note)
{
	*note = NULL;
	return CFG_S3;
}

static unsigned
cfg_lifecycle_variant(const void *obj, const char **note)
{
	const struct cfg_lifecycle_rule *r = obj;
	*note = r->transition_after_ms > 0 ? "with transition_after" : "without transition_after";
	return r->transition_after_ms > 0 ? CFG_MOVES : 0;
}

static int
cfg_credential_check(struct cfg_ctx *ctx, yaml_node_t *map, void *obj)
{
	struct cfg_credential *c = obj;
	if (c->display_name == NULL)
		c->display_name = xstrdup(c->access_key);
	return 0;
}

static int
cfg_lifecycle_check(struct cfg_ctx *ctx, yaml_node_t *map, void *obj)
{
	struct cfg_lifecycle_rule *r = obj;
	if (r->expire_after_ms == 0 && r->transition_after_ms == 0)
		return cfg_err(ctx, map, "a lifecycle rule needs 'expire_after' or "
		    "'transition_after'%s%s", cfg_in(ctx), ctx->where);
	if (r->expire_after_ms > 0 && r->transition_after_ms >= r->expire_after_ms)
		return cfg_err(ctx, cfg_map_get(ctx, map, "expire_after", 0),
		    "'expire_after' must be longer than 'transition_after'%s%s", cfg_in(ctx),
		    ctx->where);
	return 0;
}

static int
cfg_notification_check(struct cfg_ctx *ctx, yaml_node_t *map, void *obj)
{
	struct cfg_notification *n = obj;
	yaml_node_t *events = cfg_map_get(ctx, map, "events", 0);
	for (size_t i = 0; i < n->nevents; i++)
		if (strncmp(n->events[i], "s3:", 3) != 0)
			return cfg_err(ctx, cfg_seq_item(ctx, events, i), "expected an S3 event "
			    "name such as s3:ObjectCreated:* in 'events', got '%s'", n->events[i]);
	return 0;
}

/* ---- the schema of s3mux.yaml ----------------------------------------------------------- */

static const struct cfg_keyword cfg_placements[] = {
	{ "spread", PLACEMENT_SPREAD }, { "pack", PLACEMENT_PACK }, { NULL, 0 },
};
static const struct cfg_keyword cfg_drivers[] = {
	{ "fs", BACKEND_DRIVER_FS }, { "s3", BACKEND_DRIVER_S3 }, { NULL, 0 },
};
static const struct cfg_keyword cfg_codecs[] = {
	{ "none", CODEC_NONE }, { "zstd", CODEC_ZSTD }, { NULL, 0 },
};
static const struct cfg_keyword cfg_conflicts[] = {
	{ "newer-wins", CONFLICT_NEWER_WINS },
	{ "skip-if-dest-exists", CONFLICT_SKIP_IF_DEST_EXISTS },
	{ "overwrite", CONFLICT_OVERWRITE }, { NULL, 0 },
};
static const struct cfg_keyword cfg_notify_kinds[] = {
	{ "webhook", NOTIFY_WEBHOOK }, { "slack", NOTIFY_SLACK }, { NULL, 0 },
};
static const struct cfg_keyword cfg_log_levels[] = {
	{ "error", 0 }, { "warning", 0 }, { "info", 0 }, { "debug", 0 }, { NULL, 0 },
};
static const struct cfg_keyword cfg_facilities[] = {
	{ "daemon", 0 }, { "user", 0 }, { "local0", 0 }, { "local1", 0 }, { "local2", 0 },
	{ "local3", 0 }, { "local4", 0 }, { "local5", 0 }, { "local6", 0 }, { "local7", 0 },
	{ NULL, 0 },
};

/* How to reach an S3 service: inline in an s3 backend, the mapping 'target' of a rule. */
#define S3_REQ		(CFG_S3 | CFG_VREQ)
#define S3_SECRET	(CFG_S3 | CFG_VREQ | CFG_ALT)
#define S3(...) CFG_F(struct cfg_s3_endpoint, __VA_ARGS__)
static const struct cfg_field cfg_s3_fields[] = {
	S3("endpoint",        CFG_URL,         endpoint,   S3_REQ,             NULL, NULL),
	S3("region",          CFG_STRING,      region,     CFG_S3, "us-east-1",      NULL),
	S3("bucket",          CFG_STRING,      bucket,     S3_REQ,             NULL, NULL),
	S3("prefix",          CFG_STRING,      prefix,     CFG_S3 | CFG_EMPTY, "",   NULL),
	S3("path_style",      CFG_BOOL,        path_style, CFG_S3,             "true", NULL),
	S3("access_key",      CFG_STRING,      access_key, S3_REQ,             NULL, NULL),
	S3("secret_key_file", CFG_SECRET_FILE, secret_key, S3_SECRET,          NULL, NULL),
	S3("secret_key",      CFG_SECRET,      secret_key, S3_SECRET,          NULL, NULL),
	S3("ca_file",         CFG_PATH,        ca_file,    CFG_S3,             NULL, NULL),
	S3("tls_verify",      CFG_BOOL,        tls_verify, CFG_S3,             "true", NULL),
};
#undef S3
static const struct cfg_schema cfg_s3_schema =
    CFG_SCHEMA(cfg_s3_fields, struct cfg_s3_endpoint, cfg_s3_variant, NULL);

#define LIM(...) CFG_F(struct cfg_limits, __VA_ARGS__)
static const struct cfg_field cfg_limits_fields[] = {
	LIM("requests_per_month", CFG_UINT64, requests_per_month, 0, NULL, NULL),
	LIM("egress_per_month",   CFG_SIZE,   egress_per_month,   0, NULL, NULL),
	LIM("ingress_per_month",  CFG_SIZE,   ingress_per_month,  0, NULL, NULL),
};
#undef LIM
static const struct cfg_schema cfg_limits_schema =
    CFG_SCHEMA(cfg_limits_fields, struct cfg_limits, NULL, NULL);

#define BE(...) CFG_F(struct cfg_backend, __VA_ARGS__)
static const struct cfg_field cfg_backend_fields[] = {
	BE("name",    CFG_STRING,   name,       CFG_REQ,            NULL,  NULL),
	BE("driver",  CFG_ENUM,     driver,     CFG_REQ,            NULL,  cfg_drivers),
	BE("path",    CFG_PATH,     path,       CFG_FS | CFG_VREQ,  NULL,  NULL),
	BE(NULL,      CFG_INLINE,   s3,         0,                  NULL,  &cfg_s3_schema),
	BE("quota",   CFG_SIZE,     quota,      0,                  "0",   NULL),
	BE("limits",  CFG_MAP,      limits,     0,                  NULL,  &cfg_limits_schema),
	BE("timeout", CFG_DURATION, timeout_ms, CFG_POS,            "60s", NULL),
};
#undef BE
static const struct cfg_schema cfg_backend_schema =
    CFG_SCHEMA(cfg_backend_fields, struct cfg_backend, cfg_backend_variant, NULL);

#define CR(...) CFG_F(struct cfg_credential, __VA_ARGS__)
static const struct cfg_field cfg_credential_fields[] = {
	CR("access_key",      CFG_STRING,      access_key,   CFG_REQ,           NULL, NULL),
	CR("secret_key_file", CFG_SECRET_FILE, secret_key,   CFG_REQ | CFG_ALT, NULL, NULL),
	CR("secret_key",      CFG_SECRET,      secret_key,   CFG_REQ | CFG_ALT, NULL, NULL),
	CR("display_name",    CFG_STRING,      display_name, 0,                 NULL, NULL),
	CFG_SL(struct cfg_credential, "buckets", buckets, nbuckets, 0, "*"),
};
#undef CR
static const struct cfg_schema cfg_credential_schema =
    CFG_SCHEMA(cfg_credential_fields, struct cfg_credential, NULL, cfg_credential_check);

#define BK(...) CFG_F(struct cfg_bucket, __VA_ARGS__)
static const struct cfg_field cfg_bucket_fields[] = {
	BK("name",        CFG_STRING, name,        CFG_REQ, NULL,   NULL),
	BK("compression", CFG_ENUM,   compression, 0,       "none", cfg_codecs),
	BK("encryption",  CFG_STRING, encryption,  0,       NULL,   NULL),
	BK("quota",       CFG_SIZE,   quota,       0,       "0",    NULL),
};
#undef BK
static const struct cfg_schema cfg_bucket_schema =
    CFG_SCHEMA(cfg_bucket_fields, struct cfg_bucket, NULL, NULL);

#define KY(...) CFG_F(struct cfg_key, __VA_ARGS__)
static const struct cfg_field cfg_key_fields[] = {
	KY("id",   CFG_STRING, id,   CFG_REQ, NULL, NULL),
	KY("file", CFG_PATH,   file, CFG_REQ, NULL, NULL),
};
#undef KY
static const struct cfg_schema cfg_key_schema =
    CFG_SCHEMA(cfg_key_fields, struct cfg_key, NULL, NULL);

#define RR(...) CFG_F(struct cfg_replication_rule, __VA_ARGS__)
static const struct cfg_field cfg_replication_fields[] = {
	RR("id",       CFG_STRING, id,               CFG_REQ,   NULL,         NULL),
	RR("bucket",   CFG_STRING, bucket,           CFG_REQ,   NULL,         NULL),
	RR("prefix",   CFG_STRING, prefix,           CFG_EMPTY, "",           NULL),
	RR("target",   CFG_MAP,    target,           CFG_REQ,   NULL,         &cfg_s3_schema),
	RR("conflict", CFG_ENUM,   conflict,         0,         "newer-wins", cfg_conflicts),
	RR("delete",   CFG_BOOL,   propagate_delete, 0,         "false",      NULL),
};
#undef RR
static const struct cfg_schema cfg_replication_schema =
    CFG_SCHEMA(cfg_replication_fields, struct cfg_replication_rule, NULL, NULL);

#define LC(...) CFG_F(struct cfg_lifecycle_rule, __VA_ARGS__)
static const struct cfg_field cfg_lifecycle_fields[] = {
	LC("id",               CFG_STRING,   id,                  CFG_REQ,   NULL, NULL),
	LC("bucket",           CFG_STRING,   bucket,              CFG_REQ,   NULL, NULL),
	LC("prefix",           CFG_STRING,   prefix,              CFG_EMPTY, "",   NULL),
	LC("expire_after",     CFG_DURATION, expire_after_ms,     0,         NULL, NULL),
	LC("transition_after", CFG_DURATION, transition_after_ms, 0,         NULL, NULL),
	LC("to_backend",       CFG_STRING,   to_backend,  CFG_MOVES | CFG_VREQ,  NULL, NULL),
};
#undef LC
static const struct cfg_schema cfg_lifecycle_schema = CFG_SCHEMA(cfg_lifecycle_fields,
    struct cfg_lifecycle_rule, cfg_lifecycle_variant, cfg_lifecycle_check);

#define NT(...) CFG_F(struct cfg_notification, __VA_ARGS__)
static const struct cfg_field cfg_notification_fields[] = {
	NT("id",          CFG_STRING,      id,     CFG_REQ, NULL, NULL),
	NT("kind",        CFG_ENUM,        kind,   CFG_REQ, NULL, cfg_notify_kinds),
	NT("url",         CFG_URL,         url,    CFG_REQ, NULL, NULL),
	NT("secret_file", CFG_SECRET_FILE, secret, 0,       NULL, NULL),
	CFG_SL(struct cfg_notification, "events", events, nevents, 0, NULL),
	CFG_SL(struct cfg_notification, "buckets", buckets, nbuckets, 0, NULL),
};
#undef NT
static const struct cfg_schema cfg_notification_schema = CFG_SCHEMA(cfg_notification_fields,
    struct cfg_notification, NULL, cfg_notification_check);

#define RL(...) CFG_F(struct cfg_role, __VA_ARGS__)
static const struct cfg_field cfg_role_fields[] = {
	RL("enabled",        CFG_BOOL,     enabled,           0,       "true", NULL),
	RL("sweep_interval", CFG_DURATION, sweep_interval_ms, 0,       "5m",   NULL),
	RL("standby_retry",  CFG_DURATION, standby_retry_ms,  CFG_POS, "5s",   NULL),
};
static const struct cfg_schema cfg_role_schema =
    CFG_SCHEMA(cfg_role_fields, struct cfg_role, NULL, NULL);

/* A role with keys of its own: the shared ones inline, then its own. */
static const struct cfg_field cfg_role_cleanup_fields[] = {
	RL(NULL,           CFG_INLINE,   enabled,                0,       NULL,  &cfg_role_schema),
	RL("max_attempts", CFG_INT,      cleanup.max_attempts,   CFG_POS, "8",   NULL),
	RL("retry_base",   CFG_DURATION, cleanup.retry_base_ms,  CFG_POS, "30s", NULL),
	RL("claim_grace",  CFG_DURATION, cleanup.claim_grace_ms, CFG_POS, "5m",  NULL),
	RL("batch",        CFG_INT,      cleanup.batch,          CFG_POS, "100", NULL),
	RL("pass_limit",   CFG_DURATION, cleanup.pass_limit_ms,  CFG_POS, "1m",  NULL),
};
static const struct cfg_schema cfg_role_cleanup_schema =
    CFG_SCHEMA(cfg_role_cleanup_fields, struct cfg_role, NULL, NULL);

static const struct cfg_field cfg_role_reaper_fields[] = {
	RL(NULL,            CFG_INLINE,   enabled,                 0,       NULL,   &cfg_role_schema),
	RL("pending_age",   CFG_DURATION, reaper.pending_age_ms,   CFG_POS, "1h",   NULL),
	RL("multipart_age", CFG_DURATION, reaper.multipart_age_ms, CFG_POS, "7d",   NULL),
	RL("etag_max_size", CFG_SIZE,     reaper.etag_max_bytes,   0,       "1GiB", NULL),
};
static const struct cfg_schema cfg_role_reaper_schema =
    CFG_SCHEMA(cfg_role_reaper_fields, struct cfg_role, NULL, NULL);

static const struct cfg_field cfg_role_replicator_fields[] = {
	RL(NULL,         CFG_INLINE, enabled,               0,       NULL,  &cfg_role_schema),
	RL("batch_size", CFG_INT,    replicator.batch_size, CFG_POS, "500", NULL),
	RL("parallel",   CFG_INT,    replicator.parallel,   CFG_POS, "8",   NULL),
};
#undef RL
static const struct cfg_schema cfg_role_replicator_schema =
    CFG_SCHEMA(cfg_role_replicator_fields, struct cfg_role, NULL, NULL);

/* The schema of each role's mapping under roles, by role id. */
static const struct cfg_schema *const cfg_role_schemas[ROLE_COUNT] = {
	[ROLE_REPLICATOR] = &cfg_role_replicator_schema,
	[ROLE_LIFECYCLE] = &cfg_role_schema,
	[ROLE_CLEANUP] = &cfg_role_cleanup_schema,
	[ROLE_SCRUBBER] = &cfg_role_schema,
	[ROLE_REAPER] = &cfg_role_reaper_schema,
	[ROLE_NOTIFIER] = &cfg_role_schema,
	[ROLE_REBALANCER] = &cfg_role_schema,
};

/*
 * The sections listen, database, frontend, daemon and replication are anonymous structs
 * inside struct s3mux_config: their fields carry offsets from the top of the config, and the
 * section itself sits at offset 0.
 */
#define TOP(...) CFG_F(struct s3mux_config, __VA_ARGS__)
#define SECTION(key, flags, schema) { (key), CFG_MAP, 0, (flags), NULL, (schema), 0 }

static const struct cfg_field cfg_listen_fields[] = {
	TOP("s3",    CFG_ADDR, listen.s3,    0, "127.0.0.1:9000", NULL),
	TOP("admin", CFG_ADDR, listen.admin, 0, NULL,             NULL),
};
static const struct cfg_schema cfg_listen_schema =
    CFG_SCHEMA(cfg_listen_fields, struct s3mux_config, NULL, NULL);

static const struct cfg_field cfg_database_fields[] = {
	TOP("url",             CFG_STRING,   database.url,               CFG_REQ, NULL,  NULL),
	TOP("connect_timeout", CFG_DURATION, database.connect_timeout_ms, CFG_POS, "10s", NULL),
};
static const struct cfg_schema cfg_database_schema =
    CFG_SCHEMA(cfg_database_fields, struct s3mux_config, NULL, NULL);

static const struct cfg_field cfg_frontend_fields[] = {
	TOP("workers",         CFG_WORKERS,  frontend.workers,          0, "auto",     NULL),
	TOP("idle_timeout",    CFG_DURATION, frontend.idle_timeout_ms,    CFG_POS, "60s",   NULL),
	TOP("request_timeout", CFG_DURATION, frontend.request_timeout_ms, CFG_POS, "15m",   NULL),
	TOP("max_header_size", CFG_SIZE,     frontend.max_header_bytes,   CFG_POS, "64KiB", NULL),
	TOP("max_object_size", CFG_SIZE,     frontend.max_object_bytes,   CFG_POS, "5TiB",  NULL),
};
static const struct cfg_schema cfg_frontend_schema =
    CFG_SCHEMA(cfg_frontend_fields, struct s3mux_config, NULL, NULL);

static const struct cfg_field cfg_daemon_fields[] = {
	TOP("pid_file",        CFG_PATH,     daemon.pid_file,        0, "s3muxd.pid", NULL),
	TOP("stop_timeout",    CFG_DURATION, daemon.stop_timeout_ms, CFG_POS, "30s",  NULL),
	TOP("log_file",        CFG_PATH,     daemon.log_file,        0, NULL,         NULL),
	TOP("syslog_facility", CFG_KEYWORD,  daemon.syslog_facility, 0, "daemon", cfg_facilities),
	TOP("log_level",       CFG_KEYWORD,  daemon.log_level,       0, "info",   cfg_log_levels),
};
static const struct cfg_schema cfg_daemon_schema =
    CFG_SCHEMA(cfg_daemon_fields, struct s3mux_config, NULL, NULL);

static const struct cfg_field cfg_replication_section_fields[] = {
	TOP("copies", CFG_INT, replication.copies, CFG_POS, "1", NULL),
};
static const struct cfg_schema cfg_replication_section_schema =
    CFG_SCHEMA(cfg_replication_section_fields, struct s3mux_config, NULL, NULL);

#define TOPL(key, member, flags, schema) \
	CFG_L(struct s3mux_config, key, member, n##member, flags, schema)
static const struct cfg_field cfg_top_fields[] = {
	SECTION("listen",      0,       &cfg_listen_schema),
	SECTION("database",    CFG_REQ, &cfg_database_schema),
	SECTION("frontend",    0,       &cfg_frontend_schema),
	SECTION("daemon",      0,       &cfg_daemon_schema),
	TOP("placement",       CFG_ENUM,  placement, 0, "spread", cfg_placements),
	SECTION("replication", 0,       &cfg_replication_section_schema),
	TOP("roles",           CFG_ROLES, roles,     0, NULL,     cfg_role_schemas),
	TOPL("credentials",       credentials,       CFG_REQ, &cfg_credential_schema),
	TOPL("backends",          backends,          CFG_REQ, &cfg_backend_schema),
	TOPL("buckets",           buckets,           0,       &cfg_bucket_schema),
	TOPL("keys",              keys,              0,       &cfg_key_schema),
	TOPL("replication_rules", replication_rules, 0,       &cfg_replication_schema),
	TOPL("lifecycle_rules",   lifecycle_rules,   0,       &cfg_lifecycle_schema),
	TOPL("notifications",     notifications,     0,       &cfg_notification_schema),
};
#undef TOPL
#undef SECTION
#undef TOP
#undef S3_SECRET
#undef S3_REQ
static const struct cfg_schema cfg_top_schema =
    CFG_SCHEMA(cfg_top_fields, struct s3mux_config, NULL, NULL);

/* ---- checks across sections ------------------------------------------------------------- */

/* A name member in each entry of a top-level list, e.g. backends[].name. */
struct cfg_names {
	const char *section;	/* "backends" */
	const char *key;	/* "name" */
	const char *base;
	size_t size, count, off;
};

#define CFG_NAMES(section, key, array, count, type, member) \
	((struct cfg_names){ (section), (key), (const char *)(array), sizeof(type), (count), \
	    offsetof(type, member) })

static const char *
cfg_name_at(const struct cfg_names *l, size_t i)
{
	return *(char *const *)(l->base + i * l->size + l->off);
}

/* Every name in b differs from every earlier name in a (a == b: within one list). */
static int
cfg_unique(struct cfg_ctx *ctx, const char *what, const struct cfg_names *a,
    const struct cfg_names *b)
{
	for (size_t i = 0; i < b->count; i++) {
		size_t end = a->base == b->base ? i : a->count;
		for (size_t j = 0; j < end; j++) {
			if (strcmp(cfg_name_at(a, j), cfg_name_at(b, i)) != 0)
				continue;
			return cfg_err(ctx, cfg_locate(ctx, b->section, i, b->key),
			    "duplicate %s '%s' in %s[%zu] (first in %s[%zu])", what,
			    cfg_name_at(b, i), b->section, i, a->section, j);
		}
	}
	return 0;
}

/* Every name in from (NULL: none given) is a name in to. */
static int
cfg_refers(struct cfg_ctx *ctx, const char *what, const struct cfg_names *from,
    const struct cfg_names *to)
{
	for (size_t i = 0; i < from->count; i++) {
		const char *name = cfg_name_at(from, i);
		size_t j = 0;
		while (name != NULL && j < to->count && strcmp(name, cfg_name_at(to, j)) != 0)
			j++;
		if (name != NULL && j == to->count)
			return cfg_err(ctx, cfg_locate(ctx, from->section, i, from->key),
			    "unknown %s '%s' for '%s' in %s[%zu]; define it under '%s'", what, name,
			    from->key, from->section, i, to->section);
	}
	return 0;
}

static int
cfg_check_names(struct cfg_ctx *ctx, const struct s3mux_config *cfg)
{
	struct cfg_names creds = CFG_NAMES("credentials", "access_key", cfg->credentials,
	    cfg->ncredentials, struct cfg_credential, access_key);
	struct cfg_names backends = CFG_NAMES("backends", "name", cfg->backends,
	    cfg->nbackends, struct cfg_backend, name);
	struct cfg_names buckets = CFG_NAMES("buckets", "name", cfg->buckets, cfg->nbuckets,
	    struct cfg_bucket, name);
	struct cfg_names keys = CFG_NAMES("keys", "id", cfg->keys, cfg->nkeys, struct cfg_key, id);
	struct cfg_names repl = CFG_NAMES("replication_rules", "id", cfg->replication_rules,
	    cfg->nreplication_rules, struct cfg_replication_rule, id);
	struct cfg_names life = CFG_NAMES("lifecycle_rules", "id", cfg->lifecycle_rules,
	    cfg->nlifecycle_rules, struct cfg_lifecycle_rule, id);
	struct cfg_names notes = CFG_NAMES("notifications", "id", cfg->notifications,
	    cfg->nnotifications, struct cfg_notification, id);
	struct cfg_names encryption = CFG_NAMES("buckets", "encryption", cfg->buckets,
	    cfg->nbuckets, struct cfg_bucket, encryption);
	struct cfg_names to_backend = CFG_NAMES("lifecycle_rules", "to_backend",
	    cfg->lifecycle_rules, cfg->nlifecycle_rules, struct cfg_lifecycle_rule, to_backend);

	if (cfg_unique(ctx, "access key", &creds, &creds) == -1 ||
	    cfg_unique(ctx, "backend name", &backends, &backends) == -1 ||
	    cfg_unique(ctx, "bucket name", &buckets, &buckets) == -1 ||
	    cfg_unique(ctx, "key id", &keys, &keys) == -1 ||
	    cfg_unique(ctx, "rule id", &repl, &repl) == -1 ||
	    cfg_unique(ctx, "rule id", &life, &life) == -1 ||
	    cfg_unique(ctx, "rule id", &repl, &life) == -1 ||
	    cfg_unique(ctx, "notification id", &notes, &notes) == -1 ||
	    cfg_refers(ctx, "key id", &encryption, &keys) == -1 ||
	    cfg_refers(ctx, "backend", &to_backend, &backends) == -1)
		return -1;
	return 0;
}

static int
cfg_check_sections(struct cfg_ctx *ctx, const struct s3mux_config *cfg)
{
	if ((size_t)cfg->replication.copies > cfg->nbackends)
		return cfg_err(ctx, cfg_locate(ctx, "replication", SIZE_MAX, "copies"),
		    "'copies' is %d but only %zu backend%s configured", cfg->replication.copies,
		    cfg->nbackends, cfg->nbackends == 1 ? " is" : "s are");
	if (cfg->listen.admin != NULL && strcmp(cfg->listen.admin, cfg->listen.s3) == 0)
		return cfg_err(ctx, cfg_locate(ctx, "listen", SIZE_MAX, "admin"),
		    "'admin' must differ from 's3' in listen");
	return 0;
}

/* ---- loading ---------------------------------------------------------------------------- */

/* Say what libyaml found wrong, with its position. */
static void
cfg_yaml_error(struct cfg_ctx *ctx, const yaml_parser_t *p)
{
	const char *problem = p->problem != NULL ? p->problem : "cannot parse the file";
	if (p->error == YAML_MEMORY_ERROR) {
		snprintf(ctx->errbuf, ctx->errsize, "%s: out of memory", ctx->file);
	} else if (p->error == YAML_READER_ERROR) {
		snprintf(ctx->errbuf, ctx->errsize, "%s: %s at byte %zu", ctx->file, problem,
		    p->problem_offset);
	} else if (p->context != NULL) {
		snprintf(ctx->errbuf, ctx->errsize, "%s:%zu:%zu: %s (%s at line %zu, column %zu)",
		    ctx->file, p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
		    p->context, p->context_mark.line + 1, p->context_mark.column + 1);
	} else {
		snprintf(ctx->errbuf, ctx->errsize, "%s:%zu:%zu: %s", ctx->file,
		    p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
	}
}

/* Parse the one document of the file into doc. */
static int
cfg_parse(struct cfg_ctx *ctx, FILE *fp, yaml_document_t *doc)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int rc = -1;
	if (!yaml_parser_initialize(&parser))
		return cfg_err(ctx, NULL, "out of memory");
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, doc)) {
		cfg_yaml_error(ctx, &parser);
	} else if (!yaml_parser_load(&parser, &extra)) {
		cfg_yaml_error(ctx, &parser);
		yaml_document_delete(doc);
	} else {
		yaml_node_t *more = yaml_document_get_root_node(&extra);
		rc = more == NULL ? 0 : cfg_err(ctx, more, "only one YAML document is allowed");
		yaml_document_delete(&extra);
		if (rc == -1)
			yaml_document_delete(doc);
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int
cfg_fill(struct cfg_ctx *ctx, struct s3mux_config *cfg)
{
	if (ctx->root != NULL && ctx->root->type != YAML_MAPPING_NODE)
		return cfg_err(ctx, ctx->root, "expected a mapping at the top of the file, got %s",
		    cfg_kind(ctx->root));
	if (cfg_walk(ctx, &cfg_top_schema, ctx->root, cfg) == -1 ||
	    cfg_check_names(ctx, cfg) == -1 || cfg_check_sections(ctx, cfg) == -1)
		return -1;
	return 0;
}

/* The absolute path of the file and its directory. */
static void
cfg_locate_file(struct s3mux_config *cfg, const char *path)
{
	if (path[0] == '/') {
		cfg->path = xstrdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);
		if (cwd == NULL)
			fatal("getcwd");
		cfg->path = cfg_resolve(cwd, path);
		free(cwd);
	}
	char *slash = strrchr(cfg->path, '/');
	cfg->dir = slash == cfg->path ? xstrdup("/") :
	    xasprintf("%.*s", (int)(slash - cfg->path), cfg->path);
}

struct s3mux_config *
config_load(const char *path, char *errbuf, size_t errbuf_size)
{
	char dummy[1];
	struct cfg_ctx ctx = {
		.file = path, .errbuf = errbuf_size ? errbuf : dummy,
		.errsize = errbuf_size ? errbuf_size : sizeof(dummy),
	};
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		cfg_err(&ctx, NULL, "cannot open: %s", strerror(errno));
		return NULL;
	}
	yaml_document_t doc;
	int rc = cfg_parse(&ctx, fp, &doc);
	fclose(fp);
	if (rc == -1)
		return NULL;

	struct s3mux_config *cfg = xcalloc(1, sizeof(*cfg));
	cfg_locate_file(cfg, path);
	ctx.dir = cfg->dir;
	ctx.doc = &doc;
	ctx.root = yaml_document_get_root_node(&doc);
	rc = cfg_fill(&ctx, cfg);
	yaml_document_delete(&doc);
	if (rc == -1) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct s3mux_config *cfg)
{
	if (cfg == NULL)
		return;
	cfg_release(&cfg_top_schema, cfg);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

const struct cfg_backend *
config_backend(const struct s3mux_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nbackends; i++)
		if (strcmp(cfg->backends[i].name, name) == 0)
			return &cfg->backends[i];
	return NULL;
}

const struct cfg_credential *
config_credential(const struct s3mux_config *cfg, const char *access_key)
{
	for (size_t i = 0; i < cfg->ncredentials; i++)
		if (strcmp(cfg->credentials[i].access_key, access_key) == 0)
			return &cfg->credentials[i];
	return NULL;
}
