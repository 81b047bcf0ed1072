/* Optional C accelerator for shop_env.html (the simplifier's tree walks).
 *
 * Every function here has a pure-Python reference in the package (named in its doc
 * string) and must return exactly what that reference returns; tests/test_html_speedups.py
 * compares the two on handwritten, generated, sample-store and fuzz-corpus pages. The
 * walks read libxml2's tree directly through lxml's public C API (lxml.etree_api.h) and
 * create Python proxies only for the elements they return.
 *
 * Python text semantics are kept exactly: whitespace is what str.split()/str.isspace()
 * see (Unicode), and checks that lower-case a value (role, type, aria-hidden, style)
 * take a fast ASCII path and hand non-ASCII values to the Python reference. A tree this
 * module does not handle (namespaced names, attribute values that are not one text node)
 * makes the walk return None, and the caller runs the Python reference instead.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE  /* memmem */
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <dlfcn.h>
#include <libxml/tree.h>
#include "etree_api.h"

typedef struct LxmlElement LxmlElement;
static PyTypeObject *element_type = NULL;
/* libxml2's xmlNodeSetName, from the copy lxml.etree is linked with (NULL if it does not
 * export it: then nodes are renamed through their Python proxies). */
typedef void (*set_name_fn)(xmlNode *, const xmlChar *);
static set_name_fn xml_node_set_name = NULL;

/* ------------------------------------------------------------------ text helpers */

/* str.isspace() for one code point (the set CPython uses; checked by the tests). */
static int py_space(uint32_t c) {
    if (c < 0x80) return (c >= 9 && c <= 13) || (c >= 28 && c <= 32);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Decode one UTF-8 code point from a NUL-terminated string and advance. */
static uint32_t utf8_next(const unsigned char **pp) {
    const unsigned char *p = *pp;
    uint32_t c = p[0];
    if (c < 0x80) { *pp = p + 1; return c; }
    if ((c & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
        *pp = p + 2; return ((c & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if ((c & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
        *pp = p + 3; return ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    if ((c & 0xF8) == 0xF0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
            (p[3] & 0xC0) == 0x80) {
        *pp = p + 4;
        return ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    }
    *pp = p + 1;
    return 0xFFFD;
}

static int has_nonspace(const xmlChar *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x80) {
            if (!py_space(*p)) return 1;
            p++;
        } else if (!py_space(utf8_next(&p))) {
            return 1;
        }
    }
    return 0;
}

static int is_ascii(const xmlChar *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80) return 0;
    return 1;
}

/* A growable byte buffer. */
typedef struct { char *data; size_t len, cap; } Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = PyMem_Realloc(b->data, cap);
    if (!d) { PyErr_NoMemory(); return -1; }
    b->data = d; b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

/* ------------------------------------------------------------------ tree helpers */

/* lxml's _isElement: nodes that lxml exposes as elements (len(el), iteration). */
static int element_like(const xmlNode *n) {
    return n->type == XML_ELEMENT_NODE || n->type == XML_COMMENT_NODE ||
           n->type == XML_ENTITY_REF_NODE || n->type == XML_PI_NODE;
}

/* lxml's _textNodeOrSkip: the text/CDATA node at n (skipping XInclude markers) or NULL. */
static xmlNode *text_node_or_skip(xmlNode *n) {
    while (n) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) return n;
        if (n->type == XML_XINCLUDE_START || n->type == XML_XINCLUDE_END) { n = n->next; continue; }
        return NULL;
    }
    return NULL;
}

/* Does the text run starting at n (an element's .text when n = first child, its .tail
 * when n = next sibling) contain a non-whitespace character? */
static int run_has_nonspace(xmlNode *n) {
    for (n = text_node_or_skip(n); n; n = text_node_or_skip(n->next))
        if (n->content && has_nonspace(n->content)) return 1;
    return 0;
}

static xmlNode *node_of(PyObject *obj) {
    if (!PyObject_TypeCheck(obj, element_type)) {
        PyErr_SetString(PyExc_TypeError, "expected an lxml element");
        return NULL;
    }
    xmlNode *n = ((LxmlElement *)obj)->_c_node;
    if (!n) PyErr_SetString(PyExc_ValueError, "invalid lxml element (no node)");
    return n;
}

/* The node after n in a pre-order walk of root's subtree, entering n's children when
 * descend is set and n is an element; NULL when the walk is over. */
static xmlNode *preorder_next(xmlNode *n, const xmlNode *root, int descend) {
    if (descend && n->type == XML_ELEMENT_NODE && n->children) return n->children;
    while (n != root && n->next == NULL) n = n->parent;
    return n == root ? NULL : n->next;
}

/* Status of an attribute look-up. */
enum { ATTR_ABSENT = 0, ATTR_FOUND = 1, ATTR_UNSUPPORTED = -1 };

/* el.get(name) without a namespace: its value (a NUL-terminated UTF-8 string) or
 * ATTR_ABSENT; ATTR_UNSUPPORTED when the value is not one plain text node. */
static int get_attr(xmlNode *n, const char *name, const xmlChar **value) {
    for (xmlAttr *a = n->properties; a; a = a->next) {
        if (a->ns != NULL || strcmp((const char *)a->name, name) != 0) continue;
        xmlNode *c = a->children;
        if (c == NULL) { *value = (const xmlChar *)""; return ATTR_FOUND; }
        if (c->next != NULL || c->type != XML_TEXT_NODE) return ATTR_UNSUPPORTED;
        *value = c->content ? c->content : (const xmlChar *)"";
        return ATTR_FOUND;
    }
    return ATTR_ABSENT;
}

/* Is every name on the node plain (no namespace) and every attribute value one text node? */
static int node_supported(xmlNode *n) {
    if (n->ns != NULL) return 0;
    for (xmlAttr *a = n->properties; a; a = a->next) {
        if (a->ns != NULL) return 0;
        if (a->children && (a->children->next || a->children->type != XML_TEXT_NODE)) return 0;
    }
    return 1;
}

static int name_is(const xmlNode *n, const char *tag) {
    return strcmp((const char *)n->name, tag) == 0;
}

/* A small set of tag names (ASCII/UTF-8 strings) taken from a Python frozenset. */
typedef struct { Py_ssize_t n; const char **names; size_t *lens; PyObject *keep; } NameSet;

static int nameset_init(NameSet *s, PyObject *items) {
    s->n = 0; s->names = NULL; s->lens = NULL; s->keep = NULL;
    if (items == Py_None) return 0;
    PyObject *seq = PySequence_Fast(items, "expected a collection of str");
    if (!seq) return -1;
    s->keep = seq;
    s->n = PySequence_Fast_GET_SIZE(seq);
    s->names = PyMem_Calloc(s->n ? s->n : 1, sizeof(char *));
    s->lens = PyMem_Calloc(s->n ? s->n : 1, sizeof(size_t));
    if (!s->names || !s->lens) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < s->n; i++) {
        Py_ssize_t len;
        const char *u = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(seq, i), &len);
        if (!u) return -1;
        s->names[i] = u;
        s->lens[i] = (size_t)len;
    }
    return 0;
}

static void nameset_free(NameSet *s) {
    PyMem_Free(s->names);
    PyMem_Free(s->lens);
    Py_XDECREF(s->keep);
}

static int nameset_has(const NameSet *s, const char *name, size_t len) {
    for (Py_ssize_t i = 0; i < s->n; i++)
        if (s->lens[i] == len && s->names[i][0] == name[0] && memcmp(s->names[i], name, len) == 0)
            return 1;
    return 0;
}

static int nameset_has_tag(const NameSet *s, const xmlNode *n) {
    return nameset_has(s, (const char *)n->name, strlen((const char *)n->name));
}

/* A proxy for a node of the same document as `owner`. */
static PyObject *proxy(PyObject *owner, xmlNode *n) {
    return (PyObject *)elementFactory(((LxmlElement *)owner)->_doc, n);
}

/* ------------------------------------------------------------------ scan */

/* Reference: shop_env.html.pipeline._VALID_TAG / str.isalnum (tags the parser kept
 * from junk such as "buy<div" are renamed to span). */
static int tag_is_valid(const xmlChar *tag) {
    const unsigned char *p = (const unsigned char *)tag;
    if (!*p) return 0;
    if (!is_ascii(tag)) {  /* str.isalnum() over code points */
        while (*p) {
            uint32_t c = utf8_next(&p);  /* the macro evaluates its argument more than once */
            if (!Py_UNICODE_ISALNUM(c)) return 0;
        }
        return 1;
    }
    /* ASCII: all alnum, or ^[a-zA-Z][a-zA-Z0-9]*(?:[-:][a-zA-Z0-9]+)*$ */
    int alnum = 1;
    for (const unsigned char *q = p; *q; q++) if (!Py_ISALNUM(*q)) { alnum = 0; break; }
    if (alnum) return 1;
    if (!Py_ISALPHA(*p)) return 0;
    p++;
    while (*p) {
        if (Py_ISALNUM(*p)) { p++; continue; }
        if (*p != '-' && *p != ':') return 0;
        p++;
        if (!Py_ISALNUM(*p)) return 0;
        while (Py_ISALNUM(*p)) p++;
    }
    return 1;
}

/* value.strip().lower() == target, for an ASCII value. */
static int ascii_strip_lower_eq(const xmlChar *v, const char *target) {
    const unsigned char *s = (const unsigned char *)v, *e = s + strlen((const char *)v);
    while (s < e && py_space(*s)) s++;
    while (e > s && py_space(e[-1])) e--;
    size_t n = (size_t)(e - s);
    if (n != strlen(target)) return 0;
    for (size_t i = 0; i < n; i++) if (Py_TOLOWER(s[i]) != (unsigned char)target[i]) return 0;
    return 1;
}

static int ascii_casematch(const unsigned char *s, const char *word) {
    for (; *word; s++, word++) if (Py_TOLOWER(*s) != (unsigned char)*word) return 0;
    return 1;
}

/* Reference: clean._HIDDEN_STYLE (display\s*:\s*none|visibility\s*:\s*hidden, re.I), for
 * an ASCII value. */
static int ascii_hidden_style(const xmlChar *v) {
    const unsigned char *s = (const unsigned char *)v;
    for (; *s; s++) {
        const char *rest;
        size_t skip;
        if (ascii_casematch(s, "display")) { rest = "none"; skip = 7; }
        else if (ascii_casematch(s, "visibility")) { rest = "hidden"; skip = 10; }
        else continue;
        const unsigned char *p = s + skip;
        while (*p && py_space(*p)) p++;
        if (*p != ':') continue;
        p++;
        while (*p && py_space(*p)) p++;
        if (ascii_casematch(p, rest)) return 1;
    }
    return 0;
}

/* Does the whitespace-separated class list contain one of the hidden classes? */
static int has_hidden_class(const xmlChar *cls, const NameSet *hidden_classes) {
    const unsigned char *p = (const unsigned char *)cls;
    while (*p) {
        while (*p && py_space(*p)) p++;  /* ASCII whitespace; non-ASCII values go to Python */
        const unsigned char *start = p;
        while (*p && !py_space(*p)) p++;
        if (p > start && nameset_has(hidden_classes, (const char *)start, (size_t)(p - start)))
            return 1;
    }
    return 0;
}

typedef struct {
    PyObject *root;            /* owner of the document, for proxies */
    PyObject *is_hidden;       /* Python reference is_hidden(el, hidden_classes) */
    PyObject *hidden_classes_obj;
    NameSet hidden_classes, interactive_tags, skip_inside;
    PyObject *interactive_roles;
    PyObject *interactive, *named, *hidden, *ids, *attr_names, *labels;
    const xmlChar *seen_attr[128];  /* attribute-name pointers already added (libxml2 interns names) */
    int n_seen;
} Scan;

/* 1 hidden, 0 visible, -1 error. Reference: shop_env.html.clean.is_hidden. */
static int scan_is_hidden(Scan *s, xmlNode *n, PyObject **el) {
    const xmlChar *v;
    int need_python = 0;
    if (s->hidden_classes.n && get_attr(n, "class", &v) == ATTR_FOUND) {
        if (!is_ascii(v)) need_python = 1;
        else if (has_hidden_class(v, &s->hidden_classes)) return 1;
    }
    if (get_attr(n, "hidden", &v) == ATTR_FOUND) return 1;
    if (get_attr(n, "aria-hidden", &v) == ATTR_FOUND) {
        if (!is_ascii(v)) need_python = 1;
        else if (ascii_strip_lower_eq(v, "true")) return 1;
    }
    if (get_attr(n, "style", &v) == ATTR_FOUND) {
        if (!is_ascii(v)) need_python = 1;
        else if (ascii_hidden_style(v)) return 1;
    }
    if (name_is(n, "input") && get_attr(n, "type", &v) == ATTR_FOUND) {
        if (!is_ascii(v)) need_python = 1;
        else if (ascii_strip_lower_eq(v, "hidden")) return 1;
    }
    if (need_python) {
        if (!*el && !(*el = proxy(s->root, n))) return -1;
        PyObject *r = PyObject_CallFunctionObjArgs(s->is_hidden, *el, s->hidden_classes_obj, NULL);
        if (!r) return -1;
        int truth = PyObject_IsTrue(r);
        Py_DECREF(r);
        return truth;
    }
    return name_is(n, "dialog") && get_attr(n, "open", &v) == ATTR_ABSENT;
}

/* Reference: pipeline._live_link. */
static int live_link(xmlNode *n) {
    const xmlChar *v;
    if (get_attr(n, "href", &v) == ATTR_FOUND) return 1;
    if (get_attr(n, "role", &v) == ATTR_FOUND && *v) return 1;
    if (get_attr(n, "onclick", &v) == ATTR_FOUND) return 1;
    if (get_attr(n, "tabindex", &v) == ATTR_FOUND) return 1;
    for (xmlNode *c = n->children; c; c = c->next) if (element_like(c)) return 1;
    if (run_has_nonspace(n->children)) return 1;
    if (get_attr(n, "aria-label", &v) == ATTR_FOUND && *v) return 1;
    return get_attr(n, "title", &v) == ATTR_FOUND && *v;
}

static int add_attr_names(Scan *s, xmlNode *n) {
    for (xmlAttr *a = n->properties; a; a = a->next) {
        int known = 0;
        for (int i = 0; i < s->n_seen; i++) if (s->seen_attr[i] == a->name) { known = 1; break; }
        if (known) continue;
        if (s->n_seen < (int)(sizeof s->seen_attr / sizeof s->seen_attr[0]))
            s->seen_attr[s->n_seen++] = a->name;
        PyObject *key = PyUnicode_FromString((const char *)a->name);
        if (!key || PySet_Add(s->attr_names, key) < 0) { Py_XDECREF(key); return -1; }
        Py_DECREF(key);
    }
    return 0;
}

static int append_el(PyObject *list, Scan *s, xmlNode *n, PyObject **el) {
    if (!*el && !(*el = proxy(s->root, n))) return -1;
    return PyList_Append(list, *el);
}

/* Reference: role.strip().lower() in INTERACTIVE_ROLES (through Python: few elements). */
static int role_is_interactive(Scan *s, const xmlChar *role) {
    PyObject *u = PyUnicode_FromString((const char *)role);
    if (!u) return -1;
    PyObject *stripped = PyObject_CallMethod(u, "strip", NULL);
    Py_DECREF(u);
    if (!stripped) return -1;
    PyObject *lower = PyObject_CallMethod(stripped, "lower", NULL);
    Py_DECREF(stripped);
    if (!lower) return -1;
    int r = PySequence_Contains(s->interactive_roles, lower);
    Py_DECREF(lower);
    return r;
}

/* Process one element; *skip set when its subtree is not walked. 0 ok, -1 error,
 * 1 unsupported tree. */
static int scan_element(Scan *s, xmlNode *n, int *skip) {
    PyObject *el = NULL;
    int rc = -1;
    const xmlChar *v;
    if (!node_supported(n)) return 1;
    if (!tag_is_valid(n->name)) {
        if (!(el = proxy(s->root, n))) return -1;
        PyObject *span = PyUnicode_FromString("span");
        int bad = !span || PyObject_SetAttrString(el, "tag", span) < 0;
        Py_XDECREF(span);
        if (bad) goto done;
    }
    int hidden = scan_is_hidden(s, n, &el);
    if (hidden < 0) goto done;
    if (hidden) {
        *skip = 1;
        rc = append_el(s->hidden, s, n, &el);
        goto done;
    }
    if (nameset_has_tag(&s->skip_inside, n)) *skip = 1;
    if (n->properties == NULL) {
        if (nameset_has_tag(&s->interactive_tags, n) && (!name_is(n, "a") || live_link(n)))
            rc = append_el(s->interactive, s, n, &el);
        else
            rc = 0;
        goto done;
    }
    if (add_attr_names(s, n) < 0) goto done;
    if (get_attr(n, "id", &v) == ATTR_FOUND) {
        PyObject *key = PyUnicode_FromString((const char *)v);
        if (!key) goto done;
        PyObject *bucket = PyDict_GetItemWithError(s->ids, key);
        if (!bucket) {
            if (PyErr_Occurred() || !(bucket = PyList_New(0)) ||
                    PyDict_SetItem(s->ids, key, bucket) < 0) {
                Py_XDECREF(bucket); Py_DECREF(key); goto done;
            }
            Py_DECREF(bucket);  /* the dict holds it */
        }
        Py_DECREF(key);
        if (append_el(bucket, s, n, &el) < 0) goto done;
    }
    if (get_attr(n, "name", &v) == ATTR_FOUND && append_el(s->named, s, n, &el) < 0) goto done;
    if (name_is(n, "label") && get_attr(n, "for", &v) == ATTR_FOUND && *v) {
        PyObject *key = PyUnicode_FromString((const char *)v);
        if (!key) goto done;
        int has = PyDict_Contains(s->labels, key);
        if (has == 0) {
            if ((!el && !(el = proxy(s->root, n))) || PyDict_SetItem(s->labels, key, el) < 0) has = -1;
        }
        Py_DECREF(key);
        if (has < 0) goto done;
    }
    if (nameset_has_tag(&s->interactive_tags, n)) {
        rc = (!name_is(n, "a") || live_link(n)) ? append_el(s->interactive, s, n, &el) : 0;
        goto done;
    }
    int interactive = 0;
    if (get_attr(n, "role", &v) == ATTR_FOUND) {
        interactive = role_is_interactive(s, v);
        if (interactive < 0) goto done;
    }
    if (!interactive && get_attr(n, "onclick", &v) == ATTR_FOUND) interactive = 1;
    rc = interactive ? append_el(s->interactive, s, n, &el) : 0;
done:
    Py_XDECREF(el);
    return rc;
}

PyDoc_STRVAR(scan_doc,
"scan(root, hidden_classes, interactive_tags, interactive_roles, skip_inside, is_hidden)\n"
"-> (interactive, named, hidden, ids, attr_names, labels) or None\n\n"
"C version of shop_env.html.pipeline._scan_python; None when the tree holds names this\n"
"walk does not handle (the caller then runs the Python reference).");

static PyObject *scan(PyObject *self, PyObject *args) {
    Scan s;
    memset(&s, 0, sizeof s);
    PyObject *hidden_classes, *interactive_tags, *skip_inside, *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOO", &s.root, &hidden_classes, &interactive_tags,
                          &s.interactive_roles, &skip_inside, &s.is_hidden))
        return NULL;
    xmlNode *root = node_of(s.root);
    if (!root) return NULL;
    s.hidden_classes_obj = hidden_classes;
    if (nameset_init(&s.hidden_classes, hidden_classes) < 0 ||
            nameset_init(&s.interactive_tags, interactive_tags) < 0 ||
            nameset_init(&s.skip_inside, skip_inside) < 0)
        goto out;
    if (!(s.interactive = PyList_New(0)) || !(s.named = PyList_New(0)) ||
            !(s.hidden = PyList_New(0)) || !(s.ids = PyDict_New()) ||
            !(s.attr_names = PySet_New(NULL)) || !(s.labels = PyDict_New()))
        goto out;
    for (xmlNode *n = root; n;) {
        int skip = 0;
        if (n->type == XML_ELEMENT_NODE) {
            int rc = scan_element(&s, n, &skip);
            if (rc < 0) goto out;
            if (rc > 0) { result = Py_NewRef(Py_None); goto out; }
        }
        n = preorder_next(n, root, !skip);
    }
    result = PyTuple_Pack(6, s.interactive, s.named, s.hidden, s.ids, s.attr_names, s.labels);
out:
    Py_XDECREF(s.interactive); Py_XDECREF(s.named); Py_XDECREF(s.hidden);
    Py_XDECREF(s.ids); Py_XDECREF(s.attr_names); Py_XDECREF(s.labels);
    nameset_free(&s.hidden_classes); nameset_free(&s.interactive_tags); nameset_free(&s.skip_inside);
    return result;
}

/* ------------------------------------------------------------------ prune */

typedef struct {
    xmlNode *node, *child;     /* the element, and the next child to look at */
    int n_live, has_text, live_empty;
    xmlNode *live, *live_exposed;
    Py_ssize_t pending_start;  /* its empty children wait on the pending stack from here */
} Frame;

typedef struct {
    PyObject *root;
    NameSet prunable, wrappers, inline_wrappers, block;
    PyObject *drop_tag, *unwrap_tag;
    Py_ssize_t n_drop, n_unwrap;
    xmlNode **pending;
    Py_ssize_t n_pending, cap_pending;
} Prune;

static int push_pending(Prune *p, xmlNode *n) {
    if (p->n_pending == p->cap_pending) {
        Py_ssize_t cap = p->cap_pending ? 2 * p->cap_pending : 64;
        xmlNode **d = PyMem_Realloc(p->pending, (size_t)cap * sizeof *d);
        if (!d) { PyErr_NoMemory(); return -1; }
        p->pending = d; p->cap_pending = cap;
    }
    p->pending[p->n_pending++] = n;
    return 0;
}

/* Rename node n to tag (a str): in libxml2 directly, or through its proxy when one exists
 * (lxml caches the tag on the proxy) or xmlNodeSetName is not available. */
static int rename_node(PyObject *owner, xmlNode *n, PyObject *tag) {
    if (xml_node_set_name && n->_private == NULL) {
        const char *name = PyUnicode_AsUTF8(tag);
        if (!name) return -1;
        xml_node_set_name(n, (const xmlChar *)name);
        return 0;
    }
    PyObject *el = proxy(owner, n);
    if (!el) return -1;
    int rc = PyObject_SetAttrString(el, "tag", tag);
    Py_DECREF(el);
    return rc;
}

/* The element of frame f is finished: decide whether it is empty or unwrapped. Returns
 * 1 if empty, 0 if not, -1 on error; *exposed: what an unwrapped wrapper exposes. */
static int prune_finish(Prune *p, Frame *f, xmlNode **exposed) {
    xmlNode *n = f->node;
    *exposed = NULL;
    int is_br = name_is(n, "br");
    int eligible = (is_br || nameset_has_tag(&p->prunable, n)) && n->properties == NULL &&
                   !run_has_nonspace(n->children) && !f->has_text;
    int empty = 0;
    if (eligible) {
        if (f->n_live == 0 || is_br ||
                (f->n_live == 1 && f->live->type == XML_ELEMENT_NODE && name_is(f->live, "br") &&
                 f->live_empty)) {
            empty = 1;
        } else if (f->n_live == 1 && nameset_has_tag(&p->wrappers, n)) {
            xmlNode *e = f->live_exposed;
            if (nameset_has_tag(&p->inline_wrappers, n) ||
                    (e->type == XML_ELEMENT_NODE && nameset_has_tag(&p->block, e))) {
                *exposed = e;
                if (rename_node(p->root, n, p->unwrap_tag) < 0) return -1;
                p->n_unwrap++;
            }
        }
    }
    /* empty non-br children are dropped unless this element goes as a whole */
    if (!empty)
        for (Py_ssize_t i = f->pending_start; i < p->n_pending; i++) {
            if (rename_node(p->root, p->pending[i], p->drop_tag) < 0) return -1;
            p->n_drop++;
        }
    p->n_pending = f->pending_start;
    return empty;
}

PyDoc_STRVAR(prune_mark_doc,
"prune_mark(root, prunable, wrappers, inline_wrappers, block, drop_tag, unwrap_tag)\n"
"-> (n_drop, n_unwrap)\n\n"
"C version of shop_env.html.clean._prune_plan_python: renames the empty containers to\n"
"remove to drop_tag and the wrappers to unwrap to unwrap_tag, and counts them.");

static PyObject *prune_mark(PyObject *self, PyObject *args) {
    Prune p;
    memset(&p, 0, sizeof p);
    PyObject *prunable, *wrappers, *inline_wrappers, *block, *result = NULL;
    Frame *stack = NULL;
    Py_ssize_t depth = 0, cap = 0;
    if (!PyArg_ParseTuple(args, "OOOOOUU", &p.root, &prunable, &wrappers, &inline_wrappers, &block,
                          &p.drop_tag, &p.unwrap_tag))
        return NULL;
    xmlNode *root = node_of(p.root);
    if (!root) return NULL;
    if (nameset_init(&p.prunable, prunable) < 0 || nameset_init(&p.wrappers, wrappers) < 0 ||
            nameset_init(&p.inline_wrappers, inline_wrappers) < 0 ||
            nameset_init(&p.block, block) < 0)
        goto out;
#define PUSH(elem) do { \
        if (depth == cap) { \
            cap = cap ? 2 * cap : 64; \
            Frame *d_ = PyMem_Realloc(stack, (size_t)cap * sizeof *stack); \
            if (!d_) { PyErr_NoMemory(); goto out; } \
            stack = d_; \
        } \
        Frame *f_ = &stack[depth++]; \
        memset(f_, 0, sizeof *f_); \
        f_->node = (elem); f_->child = (elem)->children; f_->pending_start = p.n_pending; \
    } while (0)
    PUSH(root);
    while (depth) {
        Frame *f = &stack[depth - 1];
        xmlNode *c = f->child;
        while (c && !element_like(c)) c = c->next;
        if (c) {
            f->child = c->next;
            if (run_has_nonspace(c->next)) f->has_text = 1;
            if (c->type == XML_ELEMENT_NODE) {
                PUSH(c);
            } else {  /* comment / PI / entity reference: a live child that is not a block */
                f->n_live++; f->live = c; f->live_exposed = c; f->live_empty = 0;
            }
            continue;
        }
        xmlNode *exposed;
        int empty = prune_finish(&p, f, &exposed);
        if (empty < 0) goto out;
        xmlNode *done = f->node;
        int is_br = name_is(done, "br");
        depth--;
        if (!depth) {  /* the root: like any empty element with a parent, it is marked */
            if (empty && !is_br && done->parent && done->parent->type == XML_ELEMENT_NODE) {
                if (rename_node(p.root, done, p.drop_tag) < 0) goto out;
                p.n_drop++;
            }
            break;
        }
        Frame *parent = &stack[depth - 1];
        if (empty && !is_br) {
            if (push_pending(&p, done) < 0) goto out;
        } else {
            parent->n_live++;
            parent->live = done;
            parent->live_exposed = exposed ? exposed : done;
            parent->live_empty = empty;
        }
    }
#undef PUSH
    result = Py_BuildValue("(nn)", p.n_drop, p.n_unwrap);
out:
    PyMem_Free(stack);
    PyMem_Free(p.pending);
    nameset_free(&p.prunable); nameset_free(&p.wrappers);
    nameset_free(&p.inline_wrappers); nameset_free(&p.block);
    return result;
}

/* ------------------------------------------------------------------ text */

/* Walk the text pieces of el.itertext() in order; `piece` gets each one (a text run as
 * NUL-terminated node contents, possibly several nodes). Stops when it returns nonzero.
 * Returns WALK_UNSUPPORTED at an entity reference (itertext yields its "&name;", which the
 * parser never creates): the caller then uses the Python reference. */
#define WALK_UNSUPPORTED 2
typedef int (*piece_fn)(void *ctx, xmlNode *first_text);

static int walk_text(xmlNode *root, piece_fn piece, void *ctx) {
    int stop = 0;
    if (root->type != XML_ELEMENT_NODE) return WALK_UNSUPPORTED;  /* e.g. an entity node */
    xmlNode *t = text_node_or_skip(root->children);
    if (t && (stop = piece(ctx, t))) return stop;
    xmlNode *n = root->children;
    while (n) {
        if (n->type == XML_ENTITY_REF_NODE) return WALK_UNSUPPORTED;
        if (n->type == XML_ELEMENT_NODE) {
            t = text_node_or_skip(n->children);
            if (t && (stop = piece(ctx, t))) return stop;
            if (n->children) { n = n->children; continue; }
        }
        /* leave n: its tail, then climb while there is no next sibling */
        for (;;) {
            if (element_like(n)) {
                t = text_node_or_skip(n->next);
                if (t && (stop = piece(ctx, t))) return stop;
            }
            if (n->next) { n = n->next; break; }
            n = n->parent;
            if (n == root) return 0;
        }
    }
    return 0;
}

/* text_of(el, max_words): " ".join of the pieces, stopping after the piece that brings
 * the whitespace-separated word count above max_words. */
typedef struct { Buf buf; Py_ssize_t max_words, words; int n_pieces, error; } TextOf;

static int text_of_piece(void *ctx, xmlNode *t) {
    TextOf *c = ctx;
    if (c->n_pieces++ && buf_put(&c->buf, " ", 1) < 0) { c->error = 1; return 1; }
    int in_word = 0;
    for (; t; t = text_node_or_skip(t->next)) {
        if (!t->content) continue;
        const unsigned char *p = t->content;
        if (buf_put(&c->buf, (const char *)p, strlen((const char *)p)) < 0) { c->error = 1; return 1; }
        while (*p) {
            uint32_t cp = *p < 0x80 ? *p++ : utf8_next(&p);
            if (py_space(cp)) in_word = 0;
            else if (!in_word) { in_word = 1; c->words++; }
        }
    }
    return c->max_words >= 0 && c->words > c->max_words;
}

PyDoc_STRVAR(text_of_doc,
"text_of(el, max_words=-1) -> str | None\n\n"
"C version of shop_env.html.parse.text_of (max_words < 0: all the text); None for a\n"
"subtree with an entity reference.");

static PyObject *text_of(PyObject *self, PyObject *args) {
    PyObject *el;
    TextOf c;
    memset(&c, 0, sizeof c);
    c.max_words = -1;
    if (!PyArg_ParseTuple(args, "O|n", &el, &c.max_words)) return NULL;
    xmlNode *n = node_of(el);
    if (!n) return NULL;
    int walked = walk_text(n, text_of_piece, &c);
    PyObject *r = c.error ? NULL : walked == WALK_UNSUPPORTED ? Py_NewRef(Py_None) :
        PyUnicode_DecodeUTF8(c.buf.data ? c.buf.data : "", (Py_ssize_t)c.buf.len, "replace");
    PyMem_Free(c.buf.data);
    return r;
}

/* collapse(" ".join(el.itertext()), limit): words joined by one space, the first `limit`
 * code points, trailing space removed. */
typedef struct { Buf buf; Py_ssize_t limit, chars; int pending_space, error; } Collapse;

/* Feed one string to a collapse; 1 when the limit is reached, -1 on error. */
static int collapse_feed(Collapse *c, const unsigned char *p) {
    while (*p) {
        const unsigned char *start = p;
        uint32_t cp = *p < 0x80 ? *p++ : utf8_next(&p);
        if (py_space(cp)) { if (c->buf.len) c->pending_space = 1; continue; }
        if (c->pending_space) {
            if (buf_put(&c->buf, " ", 1) < 0) return -1;
            c->pending_space = 0;
            if (++c->chars >= c->limit) return 1;
        }
        if (buf_put(&c->buf, (const char *)start, (size_t)(p - start)) < 0) return -1;
        if (++c->chars >= c->limit) return 1;
    }
    return 0;
}

static int collapse_piece(void *ctx, xmlNode *t) {
    Collapse *c = ctx;
    if (c->buf.len) c->pending_space = 1;  /* the " " joining pieces */
    for (; t; t = text_node_or_skip(t->next)) {
        if (!t->content) continue;
        int rc = collapse_feed(c, t->content);
        if (rc < 0) { c->error = 1; return 1; }
        if (rc) return 1;
    }
    return 0;
}

/* The collapsed result as str (trailing space removed), freeing the buffer. */
static PyObject *collapse_result(Collapse *c) {
    PyObject *r = NULL;
    if (!c->error) {
        size_t len = c->buf.len;
        while (len && c->buf.data[len - 1] == ' ') len--;  /* s[:limit].rstrip() */
        r = PyUnicode_DecodeUTF8(c->buf.data ? c->buf.data : "", (Py_ssize_t)len, "replace");
    }
    PyMem_Free(c->buf.data);
    c->buf.data = NULL;
    return r;
}

/* ------------------------------------------------------------------ named elements */

/* (value or default).strip().lower() into buf (ASCII values only); 0 if not ASCII. */
static int ascii_norm(const xmlChar *v, const char *dflt, char *buf, size_t cap) {
    if (!v || !*v) v = (const xmlChar *)dflt;
    if (!is_ascii(v)) return 0;
    const unsigned char *s = (const unsigned char *)v, *e = s + strlen((const char *)v);
    while (s < e && py_space(*s)) s++;
    while (e > s && py_space(e[-1])) e--;
    size_t n = (size_t)(e - s) < cap - 1 ? (size_t)(e - s) : cap - 1;
    for (size_t i = 0; i < n; i++) buf[i] = (char)Py_TOLOWER(s[i]);
    buf[n] = '\0';
    if ((size_t)(e - s) >= cap - 1) buf[0] = '\0';  /* too long for any known word */
    return 1;
}

typedef struct { NameSet click_input_types, input_roles, select_roles, click_roles; PyObject *kind_py; } Kinds;

/* Reference: elements.element_kind. Returns "click" | "input" | "select", NULL for none;
 * *error on failure. Non-ASCII tag, type or role go through the Python reference. */
static const char *kind_of(Kinds *k, xmlNode *n, const xmlChar *type, const xmlChar *role, int *error) {
    char t[32], r[32];
    if (!is_ascii(n->name) || !ascii_norm(type, "text", t, sizeof t) || !ascii_norm(role, "", r, sizeof r)) {
        PyObject *res = PyObject_CallFunction(k->kind_py, "szz", (const char *)n->name,
                                              (const char *)type, (const char *)role);
        if (!res) { *error = 1; return NULL; }
        const char *out = NULL;
        if (res != Py_None) {
            const char *u = PyUnicode_AsUTF8(res);
            out = !u ? NULL : strcmp(u, "click") == 0 ? "click" : strcmp(u, "input") == 0 ? "input" : "select";
            if (!u) *error = 1;
        }
        Py_DECREF(res);
        return out;
    }
    const char *tag = (const char *)n->name;  /* ASCII; tag.lower() */
    char tl[16];
    size_t tn = strlen(tag);
    if (tn >= sizeof tl) tl[0] = '\0';
    else { for (size_t i = 0; i <= tn; i++) tl[i] = (char)Py_TOLOWER((unsigned char)tag[i]); }
    if (strcmp(tl, "input") == 0) return nameset_has(&k->click_input_types, t, strlen(t)) ? "click" : "input";
    if (strcmp(tl, "textarea") == 0) return "input";
    if (strcmp(tl, "select") == 0) return "select";
    size_t rn = strlen(r);
    if (nameset_has(&k->input_roles, r, rn)) return "input";
    if (nameset_has(&k->select_roles, r, rn)) return "select";
    if (strcmp(tl, "a") == 0 || strcmp(tl, "button") == 0 || nameset_has(&k->click_roles, r, rn))
        return "click";
    return NULL;
}

static const xmlChar *first_attr(xmlNode *n, const char *const *names) {
    const xmlChar *v;
    for (; *names; names++) if (get_attr(n, *names, &v) == ATTR_FOUND && *v) return v;
    return NULL;
}

/* The text of a named element, as elements_from_tree computes it. New reference. */
static PyObject *element_text(xmlNode *n, Py_ssize_t limit) {
    static const char *const INPUT_TEXT[] = {"value", "placeholder", "aria-label", NULL};
    static const char *const FALLBACK[] = {"aria-label", "value", "placeholder", "alt", "title", NULL};
    Collapse c;
    memset(&c, 0, sizeof c);
    c.limit = limit;
    const xmlChar *v = NULL;
    if (name_is(n, "input")) {
        v = first_attr(n, INPUT_TEXT);
    } else {
        if (limit > 0 && walk_text(n, collapse_piece, &c) == WALK_UNSUPPORTED) {
            PyMem_Free(c.buf.data);
            return Py_NewRef(Py_None);
        }
        if (c.error || c.buf.len) return collapse_result(&c);
        v = first_attr(n, FALLBACK);
        for (xmlNode *m = n; !v && m; m = preorder_next(m, n, 1)) {  /* el.iter("img") */
            if (m->type == XML_ELEMENT_NODE && name_is(m, "img") && get_attr(m, "alt", &v) == ATTR_FOUND)
                break;  /* the first with an alt */
            v = NULL;
        }
    }
    if (v && limit > 0 && collapse_feed(&c, v) < 0) c.error = 1;
    return collapse_result(&c);
}

PyDoc_STRVAR(element_records_doc,
"element_records(root, click_input_types, input_roles, select_roles, click_roles,\n"
"                element_kind, limit) -> list of (name, kind, tag, text) or None\n\n"
"C version of shop_env.html.elements.elements_from_tree (records, not Element objects);\n"
"None for trees this walk does not handle.");

static PyObject *element_records(PyObject *self, PyObject *args) {
    PyObject *owner, *sets[4], *out = NULL;
    Kinds k;
    Py_ssize_t limit;
    memset(&k, 0, sizeof k);
    if (!PyArg_ParseTuple(args, "OOOOOOn", &owner, &sets[0], &sets[1], &sets[2], &sets[3],
                          &k.kind_py, &limit))
        return NULL;
    xmlNode *root = node_of(owner);
    if (!root || nameset_init(&k.click_input_types, sets[0]) < 0 ||
            nameset_init(&k.input_roles, sets[1]) < 0 || nameset_init(&k.select_roles, sets[2]) < 0 ||
            nameset_init(&k.click_roles, sets[3]) < 0 || !(out = PyList_New(0)))
        goto fail;
    for (xmlNode *n = root; n;) {
        if (n->type == XML_ELEMENT_NODE) {
            const xmlChar *name, *type = NULL, *role = NULL, *v;
            if (!node_supported(n)) { Py_DECREF(out); out = Py_NewRef(Py_None); goto done; }
            if (get_attr(n, "name", &name) == ATTR_FOUND && *name) {
                if (get_attr(n, "type", &v) == ATTR_FOUND) type = v;
                if (get_attr(n, "role", &v) == ATTR_FOUND) role = v;
                int error = 0;
                const char *kind = kind_of(&k, n, type, role, &error);
                if (error) goto fail;
                if (kind) {
                    PyObject *tag = PyUnicode_FromString((const char *)n->name);
                    PyObject *text = tag ? element_text(n, limit) : NULL;
                    if (!text) { Py_XDECREF(tag); goto fail; }
                    if (text == Py_None) {  /* entity reference: the Python reference reads it */
                        Py_DECREF(text); Py_DECREF(tag); Py_DECREF(out);
                        out = Py_NewRef(Py_None);
                        goto done;
                    }
                    PyObject *rec = Py_BuildValue("(ssNN)", (const char *)name, kind, tag, text);
                    if (!rec || PyList_Append(out, rec) < 0) { Py_XDECREF(rec); goto fail; }
                    Py_DECREF(rec);
                }
            }
        }
        n = preorder_next(n, root, 1);
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    nameset_free(&k.click_input_types); nameset_free(&k.input_roles);
    nameset_free(&k.select_roles); nameset_free(&k.click_roles);
    return out;
}

/* ------------------------------------------------------------------ naming context */

/* 1 if role.lower() is in `roles`, 0 if not, -1 on error (non-ASCII roles through Python). */
static int role_lower_in(const xmlChar *role, PyObject *roles) {
    PyObject *lower;
    if (is_ascii(role)) {
        size_t n = strlen((const char *)role);
        char small[64] = {0}, *buf = n < sizeof small ? small : PyMem_Malloc(n + 1);
        if (!buf) { PyErr_NoMemory(); return -1; }
        for (size_t i = 0; i < n; i++) buf[i] = (char)Py_TOLOWER(role[i]);
        lower = PyUnicode_FromStringAndSize(buf, (Py_ssize_t)n);
        if (buf != small) PyMem_Free(buf);
    } else {
        PyObject *u = PyUnicode_FromString((const char *)role);
        if (!u) return -1;
        lower = PyObject_CallMethod(u, "lower", NULL);
        Py_DECREF(u);
    }
    if (!lower) return -1;
    int r = PySequence_Contains(roles, lower);
    Py_DECREF(lower);
    return r;
}

/* node -> context tuple, open addressing (the contexts of shared ancestors are computed once) */
typedef struct { xmlNode **keys; PyObject **values; size_t cap, used; } NodeMap;

static size_t node_hash(const xmlNode *n, size_t cap) {
    uintptr_t h = (uintptr_t)n;
    h ^= h >> 17; h *= (uintptr_t)0x9E3779B97F4A7C15ull; h ^= h >> 29;
    return (size_t)h & (cap - 1);
}

static PyObject *nodemap_get(const NodeMap *m, const xmlNode *n) {
    if (!m->cap) return NULL;
    for (size_t i = node_hash(n, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == n) return m->values[i];
        if (m->keys[i] == NULL) return NULL;
    }
}

static int nodemap_put(NodeMap *m, xmlNode *n, PyObject *v);

static int nodemap_grow(NodeMap *m) {
    NodeMap bigger = {NULL, NULL, m->cap ? 2 * m->cap : 256, 0};
    bigger.keys = PyMem_Calloc(bigger.cap, sizeof *bigger.keys);
    bigger.values = PyMem_Calloc(bigger.cap, sizeof *bigger.values);
    if (!bigger.keys || !bigger.values) {
        PyMem_Free(bigger.keys); PyMem_Free(bigger.values);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) nodemap_put(&bigger, m->keys[i], m->values[i]);  /* moves the reference */
    PyMem_Free(m->keys); PyMem_Free(m->values);
    *m = bigger;
    return 0;
}

/* Stores v (takes the reference). */
static int nodemap_put(NodeMap *m, xmlNode *n, PyObject *v) {
    if (2 * (m->used + 1) > m->cap && nodemap_grow(m) < 0) { Py_DECREF(v); return -1; }
    size_t i = node_hash(n, m->cap);
    while (m->keys[i] != NULL) i = (i + 1) & (m->cap - 1);
    m->keys[i] = n;
    m->values[i] = v;
    m->used++;
    return 0;
}

static void nodemap_free(NodeMap *m) {
    for (size_t i = 0; i < m->cap; i++) if (m->keys[i]) Py_DECREF(m->values[i]);
    PyMem_Free(m->keys); PyMem_Free(m->values);
}

typedef struct {
    PyObject *owner, *landmark_roles, *item_roles, *empty;
    NameSet meaningful, item_tags;
    NodeMap memo;
} Contexts;

/* The context node n gives the elements inside it: (prefix, landmarks, item), landmarks a
 * tuple innermost first. New reference; NULL on error; Py_None for an unsupported tree. */
static PyObject *context_of(Contexts *c, xmlNode *start) {
    xmlNode *path[64];
    Py_ssize_t depth = 0;
    PyObject *ctx = NULL;
    xmlNode *n = start;
    /* walk up to a known context, a named ancestor or the top, then come back down */
    for (; n && n->type == XML_ELEMENT_NODE; n = n->parent) {
        PyObject *known = nodemap_get(&c->memo, n);
        if (known) { ctx = Py_NewRef(known); break; }
        const xmlChar *v;
        if (!node_supported(n)) return Py_NewRef(Py_None);
        if (get_attr(n, "name", &v) == ATTR_FOUND && *v) {
            ctx = Py_BuildValue("(sOO)", (const char *)v, c->empty, Py_None);
            if (!ctx || nodemap_put(&c->memo, n, Py_NewRef(ctx)) < 0) { Py_XDECREF(ctx); return NULL; }
            break;
        }
        if (depth == (Py_ssize_t)(sizeof path / sizeof path[0])) {
            /* deep: resolve the outer part first (recursion depth ~ tree depth / 64) */
            ctx = context_of(c, n);
            if (!ctx || ctx == Py_None) return ctx;
            break;
        }
        path[depth++] = n;
    }
    if (!ctx) ctx = Py_BuildValue("(OOO)", Py_None, c->empty, Py_None);
    if (!ctx) return NULL;
    while (depth) {
        n = path[--depth];
        const xmlChar *role = NULL, *v;
        if (get_attr(n, "role", &v) == ATTR_FOUND) role = v;
        int is_landmark = nameset_has_tag(&c->meaningful, n);
        if (!is_landmark && role && (is_landmark = role_lower_in(role, c->landmark_roles)) < 0) goto fail;
        int is_item = nameset_has_tag(&c->item_tags, n);
        if (!is_item && role && (is_item = role_lower_in(role, c->item_roles)) < 0) goto fail;
        if (is_landmark || is_item) {
            PyObject *landmarks = PyTuple_GET_ITEM(ctx, 1), *item = PyTuple_GET_ITEM(ctx, 2);
            PyObject *el = proxy(c->owner, n);
            if (!el) goto fail;
            if (is_landmark) {
                Py_ssize_t k = PyTuple_GET_SIZE(landmarks);
                PyObject *grown = PyTuple_New(k + 1);
                if (!grown) { Py_DECREF(el); goto fail; }
                PyTuple_SET_ITEM(grown, 0, Py_NewRef(el));
                for (Py_ssize_t j = 0; j < k; j++)
                    PyTuple_SET_ITEM(grown, j + 1, Py_NewRef(PyTuple_GET_ITEM(landmarks, j)));
                landmarks = grown;
            } else {
                Py_INCREF(landmarks);
            }
            PyObject *next = PyTuple_Pack(3, PyTuple_GET_ITEM(ctx, 0), landmarks,
                                          is_item ? el : item);
            Py_DECREF(landmarks);
            Py_DECREF(el);
            if (!next) goto fail;
            Py_SETREF(ctx, next);
        }
        if (nodemap_put(&c->memo, n, Py_NewRef(ctx)) < 0) goto fail;
    }
    return ctx;
fail:
    Py_DECREF(ctx);
    return NULL;
}

PyDoc_STRVAR(naming_contexts_doc,
"naming_contexts(targets, meaningful_tags, landmark_roles, item_tags, item_roles)\n"
"-> list of (prefix, landmarks, item) or None\n\n"
"For each target, what its ancestors give its name (shop_env.html.naming._context of its\n"
"parent): the name of the nearest ancestor carrying one (the walk stops there), the\n"
"meaningful ancestors below it innermost first, and the innermost repeated item. None\n"
"for trees this walk does not handle.");

static PyObject *naming_contexts(PyObject *self, PyObject *args) {
    PyObject *targets, *meaningful_obj, *item_tags_obj, *out = NULL, *seq = NULL;
    Contexts c;
    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "OOOOO", &targets, &meaningful_obj, &c.landmark_roles,
                          &item_tags_obj, &c.item_roles))
        return NULL;
    if (nameset_init(&c.meaningful, meaningful_obj) < 0 ||
            nameset_init(&c.item_tags, item_tags_obj) < 0 || !(c.empty = PyTuple_New(0)) ||
            !(seq = PySequence_Fast(targets, "targets must be a sequence")))
        goto done;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    if (!(out = PyList_New(count))) goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *target = PySequence_Fast_GET_ITEM(seq, i);
        xmlNode *n = node_of(target);
        if (!n) { Py_CLEAR(out); goto done; }
        c.owner = target;
        PyObject *ctx = context_of(&c, n->parent);
        if (!ctx || ctx == Py_None) {
            Py_CLEAR(out);
            if (ctx) out = ctx;  /* None: unsupported tree */
            goto done;
        }
        PyList_SET_ITEM(out, i, ctx);
    }
done:
    Py_XDECREF(seq);
    Py_XDECREF(c.empty);
    nodemap_free(&c.memo);
    nameset_free(&c.meaningful); nameset_free(&c.item_tags);
    return out;
}

/* ------------------------------------------------------------------ own slug */

/* Reference: naming.slugify for ASCII text (runs of [a-z0-9] after lower-casing, the first
 * 8 joined by "_", cut to 60 characters at a "_"); other text goes to the Python slugify
 * (it transliterates). New reference, NULL on error. */
static PyObject *slug_of(const unsigned char *text, size_t n, PyObject *py_slugify) {
    for (size_t i = 0; i < n; i++)
        if (text[i] >= 0x80) {
            PyObject *u = PyUnicode_DecodeUTF8((const char *)text, (Py_ssize_t)n, "replace");
            if (!u) return NULL;
            PyObject *r = PyObject_CallOneArg(py_slugify, u);
            Py_DECREF(u);
            if (r && !PyUnicode_Check(r)) {
                Py_DECREF(r);
                PyErr_SetString(PyExc_TypeError, "slugify must return str");
                return NULL;
            }
            return r;
        }
    char out[128];
    size_t o = 0, i = 0;
    int words = 0;
    while (i < n && words < 8) {
        while (i < n && !Py_ISALNUM(text[i])) i++;
        if (i >= n) break;
        if (words && o < sizeof out) out[o++] = '_';
        while (i < n && Py_ISALNUM(text[i])) {
            if (o < sizeof out) out[o++] = (char)Py_TOLOWER(text[i]);
            i++;
        }
        words++;
    }
    if (o > 60) {  /* slug[:60].rsplit("_", 1)[0] if "_" in slug[:60] else slug[:60] */
        size_t cut = 60;
        while (cut > 0 && out[cut - 1] != '_') cut--;
        o = cut ? cut - 1 : 60;
    }
    return PyUnicode_FromStringAndSize(out, (Py_ssize_t)o);
}

/* The slug of a NUL-terminated value, or NULL with *slug unset when it is empty. */
static int try_slug(const xmlChar *v, PyObject *py_slugify, PyObject **slug) {
    if (!v || !*v) return 0;
    PyObject *r = slug_of(v, strlen((const char *)v), py_slugify);
    if (!r) return -1;
    if (PyUnicode_GET_LENGTH(r) == 0) { Py_DECREF(r); return 0; }
    *slug = r;
    return 1;
}

static int try_attr_slug(xmlNode *n, const char *name, PyObject *py_slugify, PyObject **slug) {
    const xmlChar *v;
    if (get_attr(n, name, &v) != ATTR_FOUND) return 0;
    return try_slug(v, py_slugify, slug);
}

/* (value or "").strip().lower() == word, for an ASCII word without 'k' (lower() maps no
 * other non-ASCII character onto ASCII letters); strip() removes Unicode whitespace. */
static int stripped_lower_is(const xmlChar *v, const char *word, int strip) {
    const unsigned char *s = (const unsigned char *)v, *e = s + strlen((const char *)v);
    if (strip) {
        while (s < e) {
            const unsigned char *q = s;
            if (!py_space(*q < 0x80 ? *q++ : utf8_next(&q))) break;
            s = q;
        }
        while (e > s) {  /* step back over one code point */
            const unsigned char *q = e - 1;
            while (q > s && (*q & 0xC0) == 0x80) q--;
            const unsigned char *r = q;
            if (!py_space(*r < 0x80 ? *r : utf8_next(&r))) break;
            e = q;
        }
    }
    size_t n = strlen(word);
    if ((size_t)(e - s) != n) return 0;
    for (size_t i = 0; i < n; i++) if (s[i] >= 0x80 || Py_TOLOWER(s[i]) != (unsigned char)word[i]) return 0;
    return 1;
}

static int is_button_type(const xmlChar *type, int strip) {
    if (!type) return 0;
    return stripped_lower_is(type, "submit", strip) || stripped_lower_is(type, "button", strip) ||
           stripped_lower_is(type, "reset", strip);
}

/* text_of(el, 8) into a buffer, then its slug. */
static int try_text_slug(xmlNode *n, PyObject *py_slugify, PyObject **slug) {
    TextOf c;
    memset(&c, 0, sizeof c);
    c.max_words = 8;
    int walked = walk_text(n, text_of_piece, &c);
    int rc = c.error ? -1 : walked == WALK_UNSUPPORTED ? WALK_UNSUPPORTED : 0;
    if (!rc && c.buf.len) {
        PyObject *r = slug_of((const unsigned char *)c.buf.data, c.buf.len, py_slugify);
        if (!r) rc = -1;
        else if (PyUnicode_GET_LENGTH(r) == 0) Py_DECREF(r);
        else { *slug = r; rc = 1; }
    }
    PyMem_Free(c.buf.data);
    return rc;
}

/* The <label> of a form field: labels[id], else an enclosing label at most 4 levels up. */
static int try_label_slug(PyObject *owner, xmlNode *n, PyObject *labels, PyObject *py_slugify,
                          PyObject **slug) {
    const xmlChar *id;
    xmlNode *label = NULL;
    if (get_attr(n, "id", &id) == ATTR_FOUND && *id && labels != Py_None) {
        PyObject *key = PyUnicode_FromString((const char *)id);
        if (!key) return -1;
        PyObject *el = PyDict_GetItemWithError(labels, key);
        Py_DECREF(key);
        if (!el && PyErr_Occurred()) return -1;
        if (el && !(label = node_of(el))) return -1;
    }
    if (!label) {
        int depth = 0;
        for (xmlNode *a = n->parent; a && element_like(a); a = a->parent, depth++) {
            if (a->type == XML_ELEMENT_NODE && name_is(a, "label")) { label = a; break; }
            if (depth >= 3) break;
        }
    }
    (void)owner;
    return label ? try_text_slug(label, py_slugify, slug) : 0;
}

PyDoc_STRVAR(own_slug_doc,
"own_slug(el, labels, slugify, orig_name_attr) -> str | None\n\n"
"C version of shop_env.html.naming.own_slug: the first non-empty slug of aria-label, the\n"
"field's <label>, visible text (value for button inputs, alt for image inputs), img alts,\n"
"title, placeholder, value, the raw page's field name, name, id; else the tag. None (use\n"
"the Python reference) for namespaced names or an entity reference in the text.");

static PyObject *own_slug(PyObject *self, PyObject *args) {
    PyObject *owner, *labels, *py_slugify, *slug = NULL;
    const char *orig_attr;
    if (!PyArg_ParseTuple(args, "OOOs", &owner, &labels, &py_slugify, &orig_attr)) return NULL;
    xmlNode *n = node_of(owner);
    if (!n) return NULL;
    if (n->type != XML_ELEMENT_NODE || !node_supported(n))
        Py_RETURN_NONE;  /* namespaced names and the like: the Python reference */
    const xmlChar *type = NULL, *v;
    if (get_attr(n, "type", &v) == ATTR_FOUND) type = v;
    int is_input = name_is(n, "input"), is_select = name_is(n, "select"),
        is_textarea = name_is(n, "textarea");
    int rc = try_attr_slug(n, "aria-label", py_slugify, &slug);
    if (!rc && (is_input || is_select || is_textarea) && !is_button_type(type, 0))
        rc = try_label_slug(owner, n, labels, py_slugify, &slug);
    if (!rc && is_input) {
        const xmlChar *kind = type ? type : (const xmlChar *)"text";
        if (is_button_type(kind, 1)) rc = try_attr_slug(n, "value", py_slugify, &slug);
        else if (stripped_lower_is(kind, "image", 1)) rc = try_attr_slug(n, "alt", py_slugify, &slug);
    } else if (!rc && !is_textarea && !is_select) {
        rc = try_text_slug(n, py_slugify, &slug);
        /* el.iter("img"): the element itself first, then its descendants in order */
        for (xmlNode *m = n; !rc && m; m = preorder_next(m, n, 1))
            if (m->type == XML_ELEMENT_NODE && name_is(m, "img"))
                rc = try_attr_slug(m, "alt", py_slugify, &slug);
    }
    if (!rc) rc = try_attr_slug(n, "title", py_slugify, &slug);
    if (!rc) rc = try_attr_slug(n, "placeholder", py_slugify, &slug);
    if (!rc && !is_input) rc = try_attr_slug(n, "value", py_slugify, &slug);
    if (!rc) rc = try_attr_slug(n, orig_attr, py_slugify, &slug);
    if (!rc) rc = try_attr_slug(n, "name", py_slugify, &slug);
    if (!rc) rc = try_attr_slug(n, "id", py_slugify, &slug);
    if (!rc) rc = try_slug(n->name, py_slugify, &slug);
    if (rc < 0) return NULL;
    if (rc == WALK_UNSUPPORTED) Py_RETURN_NONE;  /* entity reference: the Python reference */
    return rc ? slug : PyUnicode_FromString("element");
}

/* ------------------------------------------------------------------ serialization */

static const char *const BLOCK_TAGS[] = {
    "html", "head", "body", "title", "div", "section", "header", "footer", "nav", "main",
    "aside", "article", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody",
    "tfoot", "tr", "td", "th", "form", "fieldset", "p", "h1", "h2", "h3", "h4", "h5", "h6",
    "select", "option", "optgroup", "figure", "br", "hr", NULL};

/* Length of the run of regex word characters (\w: str.isalnum() or "_") at p. */
static size_t word_run(const unsigned char *p) {
    const unsigned char *q = p;
    for (;;) {
        if (*q < 0x80) {
            if (!(Py_ISALNUM(*q) || *q == '_')) break;
            q++;
        } else {
            const unsigned char *r = q;
            uint32_t c = utf8_next(&r);  /* the macro evaluates its argument more than once */
            if (!Py_UNICODE_ISALNUM(c)) break;
            q = r;
        }
    }
    return (size_t)(q - p);
}

/* Does a block-level tag (clean._BLOCK_TAG: </?(name)\b[^>]*>, without the [^>]*> part)
 * start at p? "name\b" matches exactly when the word run after "<" or "</" is the name. */
static int block_tag_at(const unsigned char *p) {
    p++;
    if (*p == '/') p++;
    size_t n = word_run(p);
    if (n < 1 || n > 8) return 0;  /* the names are 1 to 8 characters long */
    for (const char *const *t = BLOCK_TAGS; *t; t++)
        if ((*t)[0] == p[0] && strlen(*t) == n && memcmp(p, *t, n) == 0) return 1;
    return 0;
}

/* Bytes the collapsing loop must look at: ASCII whitespace and controls, '<', '>', and
 * the lead bytes of the non-ASCII whitespace characters (U+0085, U+00A0, U+1680,
 * U+2000-U+205F, U+3000). Runs of other bytes are copied as they are. */
static unsigned char special_byte[256];

static void init_special_bytes(void) {
    for (int b = 0; b <= 0x20; b++) special_byte[b] = 1;
    special_byte['<'] = special_byte['>'] = 1;
    special_byte[0xC2] = special_byte[0xE1] = special_byte[0xE2] = special_byte[0xE3] = 1;
}

PyDoc_STRVAR(collapse_html_doc,
"collapse_html(data: bytes, trim: bool) -> str | None\n\n"
"\" \".join(html.split()) of UTF-8 serialized HTML, and with trim the spaces next to\n"
"block-level tags removed (clean.serialize_collapsed / clean.trim_block_space). None when\n"
"trim is set and a '<' occurs inside a tag (the caller then uses the regular expressions).");

static PyObject *collapse_html(PyObject *self, PyObject *args) {
    PyObject *data;
    int trim;
    if (!PyArg_ParseTuple(args, "Sp", &data, &trim)) return NULL;
    /* bytes objects are NUL-terminated, which utf8_next relies on */
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data), *end = p + len;
    char *out = PyMem_Malloc((size_t)len + 1);
    if (!out) return PyErr_NoMemory();
    size_t o = 0;
    int space = 0;          /* a collapsed space waits to be written */
    int in_tag = 0, tag_is_block = 0, after_block = 0;
    PyObject *result = NULL;
    while (p < end) {
        const unsigned char *start = p;
        if (!special_byte[*p]) {
            while (p < end && !special_byte[*p]) p++;
        } else {
            uint32_t cp = *p < 0x80 ? *p++ : utf8_next(&p);
            if (p > end) p = end;
            if (py_space(cp)) { if (o) space = 1; continue; }
            if (cp == '<') {
                if (in_tag && trim) { result = Py_NewRef(Py_None); goto out; }
                /* only a tag with its closing '>' counts, as in the regular expression */
                int block = trim && block_tag_at(start) &&
                            memchr(start, '>', (size_t)(end - start)) != NULL;
                if (space && !(trim && (block || after_block))) out[o++] = ' ';
                space = 0;
                in_tag = 1;
                tag_is_block = block;
                after_block = 0;
                memcpy(out + o, start, (size_t)(p - start));
                o += (size_t)(p - start);
                continue;
            }
            if (cp == '>' && in_tag) {
                if (space && !(trim && after_block)) out[o++] = ' ';
                space = 0;
                in_tag = 0;
                after_block = tag_is_block;
                out[o++] = '>';
                continue;
            }
        }
        if (space && !(trim && after_block)) out[o++] = ' ';
        space = 0;
        after_block = 0;
        memcpy(out + o, start, (size_t)(p - start));
        o += (size_t)(p - start);
    }
    result = PyUnicode_DecodeUTF8(out, (Py_ssize_t)o, "strict");
out:
    PyMem_Free(out);
    return result;
}

/* ------------------------------------------------------------------ attributes */

/* Reference: clean.is_kept_attribute (plus "href" when asked): the whitelist, or aria-*
 * with an ASCII-letters suffix that does not only point at ids. */
static int attr_kept(const xmlChar *name, const NameSet *keep, const NameSet *drop_aria) {
    const char *s = (const char *)name;
    size_t n = strlen(s);
    if (nameset_has(keep, s, n)) return 1;
    if (n <= 5 || strncmp(s, "aria-", 5) != 0) return 0;
    for (const char *q = s + 5; *q; q++) if (!Py_ISALPHA(*q) || (unsigned char)*q >= 0x80) return 0;
    return !nameset_has(drop_aria, s, n);
}

/* Move attribute a to the end of n's attribute list. */
static void move_attr_last(xmlNode *n, xmlAttr *a) {
    if (a->next == NULL) return;
    if (a->prev) a->prev->next = a->next; else n->properties = a->next;
    a->next->prev = a->prev;
    xmlAttr *last = a->next;
    while (last->next) last = last->next;
    last->next = a;
    a->prev = last;
    a->next = NULL;
}

PyDoc_STRVAR(finalize_attributes_doc,
"finalize_attributes(root, keep, drop_aria) -> bool\n\n"
"Keep only whitelisted attributes (clean.is_kept_attribute, `keep` the exact names) and\n"
"put each name attribute last (the canonical order). False, with the tree untouched,\n"
"for trees this walk does not handle (the caller then runs the Python reference).");

static PyObject *finalize_attributes(PyObject *self, PyObject *args) {
    PyObject *owner, *keep_obj, *drop_aria_obj, *result = NULL;
    NameSet keep, drop_aria;
    memset(&keep, 0, sizeof keep);
    memset(&drop_aria, 0, sizeof drop_aria);
    if (!PyArg_ParseTuple(args, "OOO", &owner, &keep_obj, &drop_aria_obj)) return NULL;
    xmlNode *root = node_of(owner);
    if (!root || nameset_init(&keep, keep_obj) < 0 || nameset_init(&drop_aria, drop_aria_obj) < 0)
        goto out;
    /* first pass: only check, so that an unsupported tree is left as it was; a value-less
     * name attribute that is not last is one too (the Python pass re-sets it, which
     * writes it as name="") */
    for (xmlNode *n = root; n;) {
        if (n->type == XML_ELEMENT_NODE) {
            if (!node_supported(n)) { result = Py_NewRef(Py_False); goto out; }
            for (xmlAttr *a = n->properties; a; a = a->next)
                if (a->children == NULL && a->next && strcmp((const char *)a->name, "name") == 0) {
                    result = Py_NewRef(Py_False);
                    goto out;
                }
        }
        n = preorder_next(n, root, 1);
    }
    for (xmlNode *n = root; n;) {
        if (n->type == XML_ELEMENT_NODE) {
            xmlAttr *name_attr = NULL;
            for (xmlAttr *a = n->properties, *next; a; a = next) {
                next = a->next;
                if (!attr_kept(a->name, &keep, &drop_aria)) {
                    if (delAttributeFromNsName(n, NULL, a->name) < 0) {
                        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "attribute removal failed");
                        goto out;
                    }
                } else if (strcmp((const char *)a->name, "name") == 0) {
                    name_attr = a;
                }
            }
            if (name_attr) move_attr_last(n, name_attr);
        }
        n = preorder_next(n, root, 1);
    }
    result = Py_NewRef(Py_True);
out:
    nameset_free(&keep); nameset_free(&drop_aria);
    return result;
}

/* ------------------------------------------------------------------ input bytes */

PyDoc_STRVAR(has_control_chars_doc,
"has_control_chars(data: bytes) -> bool\n\n"
"C version of shop_env.html.parse._has_control_chars: a C0 control other than tab, LF\n"
"and CR, or (UTF-8) U+FFFE / U+FFFF.");

static PyObject *has_control_chars(PyObject *self, PyObject *args) {
    Py_buffer in;
    if (!PyArg_ParseTuple(args, "y*", &in)) return NULL;
    const unsigned char *p = in.buf;
    Py_ssize_t n = in.len, i = 0;
    int found = 0, non_ascii = 0;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (; i + 8 <= n && !found; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        non_ascii |= (w & highs) != 0;
        /* any byte < 0x20 (bytes >= 0x80 excluded by ~w): look at this word closely */
        if (((w - 0x20 * ones) & ~w & highs) == 0) continue;
        for (int k = 0; k < 8; k++) {
            unsigned char b = p[i + k];
            if (b < 0x20 && b != 9 && b != 10 && b != 13) { found = 1; break; }
        }
    }
    for (; i < n && !found; i++) {
        unsigned char b = p[i];
        non_ascii |= b >= 0x80;
        if (b < 0x20 && b != 9 && b != 10 && b != 13) found = 1;
    }
    if (!found && non_ascii)
        for (i = 0; i + 2 < n; i++)
            if (p[i] == 0xEF && p[i + 1] == 0xBF && (p[i + 2] == 0xBE || p[i + 2] == 0xBF)) {
                found = 1;
                break;
            }
    PyBuffer_Release(&in);
    return PyBool_FromLong(found);
}

/* ------------------------------------------------------------------ pre-parse filter */

/* An HTML5 tokenizer just precise enough to find where libxml2 (2.14+, whose tokenizer
 * follows HTML5) sees tags, comments and raw text, so that the bytes handed to the parser
 * can be made smaller without changing what the simplifier computes:
 *   - script and style bodies are blanked (the simplifier drops both); after a script body
 *     that contains "<!--" (HTML5's escape states could make it end elsewhere) the rest of
 *     the page is copied as it is;
 *   - with drop_attrs, start-tag attributes the simplifier never reads are dropped, but
 *     only from tags whose syntax is plain (anything unusual is copied as it is).
 * Everything else is copied byte for byte; when in doubt the filter copies. */

static int tok_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int ascii_casecmp_n(const unsigned char *s, const char *lower, size_t n) {
    for (size_t i = 0; i < n; i++) if (Py_TOLOWER(s[i]) != (unsigned char)lower[i]) return 0;
    return 1;
}

/* "</name" followed by a tag delimiter, at or after p (case-insensitive), or NULL. */
static const unsigned char *find_end_tag(const unsigned char *p, const unsigned char *end,
                                         const char *name, size_t n) {
    while (p < end && (p = memchr(p, '<', (size_t)(end - p)))) {
        const unsigned char *d = p + 2 + n;
        if (d < end && p[1] == '/' && ascii_casecmp_n(p + 2, name, n) &&
                (tok_space(*d) || *d == '/' || *d == '>'))
            return p;
        p++;
    }
    return NULL;
}

/* End of a comment opened at p ("<!--"), HTML5 rules ("-->", "--!>", "<!-->", "<!--->"),
 * or NULL if it runs to the end of the input. */
static const unsigned char *comment_end(const unsigned char *p, const unsigned char *end) {
    const unsigned char *q = p + 4;
    if (q < end && *q == '>') return q + 1;
    if (q + 1 < end && q[0] == '-' && q[1] == '>') return q + 2;
    while (q < end && (q = memchr(q, '-', (size_t)(end - q)))) {
        if (q + 2 < end && q[1] == '-' && q[2] == '>') return q + 3;
        if (q + 3 < end && q[1] == '-' && q[2] == '!' && q[3] == '>') return q + 4;
        q++;
    }
    return NULL;
}

typedef struct { const unsigned char *start, *name, *name_end, *end; int needed; } AttrSpan;

typedef struct {
    const unsigned char *end;  /* one past '>' */
    const unsigned char *name_end, *attrs_end;
    int plain;                 /* syntax with nothing unusual: safe to rewrite */
    int odd_name;              /* an attribute name clean._PLAIN_ATTR_NAME rejects */
    int self_closing;          /* ends with "/>": libxml2 then closes even raw-text elements */
    int n_attrs;
    AttrSpan attrs[64];
} Tag;

/* clean._PLAIN_ATTR_NAME ([A-Za-z_][-A-Za-z0-9_.:]*), on the name as written. */
static int plain_attr_name(const unsigned char *s, const unsigned char *e) {
    if (s >= e || !(Py_ISALPHA(*s) || *s == '_')) return 0;
    for (s++; s < e; s++)
        if (!(Py_ISALNUM(*s) || *s == '_' || *s == '-' || *s == '.' || *s == ':')) return 0;
    return 1;
}

/* Parse the tag whose name starts at p (after "<" or "</"); 0 if it runs to the end. */
static int parse_tag(const unsigned char *p, const unsigned char *end, Tag *t) {
    const unsigned char *q = p;
    t->plain = 1;
    t->odd_name = 0;
    t->self_closing = 0;
    t->n_attrs = 0;
    while (q < end && !tok_space(*q) && *q != '/' && *q != '>') {
        if (*q == 0) t->plain = 0;
        q++;
    }
    t->name_end = q;
    t->attrs_end = q;
    for (;;) {
        const unsigned char *ws = q;
        while (q < end && tok_space(*q)) q++;
        if (q >= end) return 0;
        if (*q == '>') { t->end = q + 1; return 1; }
        if (*q == '/') {
            if (q + 1 < end && q[1] == '>') { t->end = q + 2; t->self_closing = 1; return 1; }
            t->plain = 0;  /* a stray '/' between attributes */
            q++;
            continue;
        }
        if (ws == q) t->plain = 0;  /* no space before this attribute */
        AttrSpan a = {ws, q, NULL, NULL, 1};
        if (*q == '=') { t->plain = 0; q++; }
        while (q < end && !tok_space(*q) && *q != '/' && *q != '>' && *q != '=') {
            if (*q == '"' || *q == '\'' || *q == '<' || *q == 0) t->plain = 0;
            q++;
        }
        a.name_end = q;
        if (!plain_attr_name(a.name, a.name_end)) t->odd_name = 1;
        const unsigned char *r = q;
        while (r < end && tok_space(*r)) r++;
        if (r < end && *r == '=') {
            r++;
            while (r < end && tok_space(*r)) r++;
            if (r >= end) return 0;
            if (*r == '"' || *r == '\'') {
                const unsigned char *close = memchr(r + 1, *r, (size_t)(end - r - 1));
                if (!close) return 0;
                if (memchr(r + 1, 0, (size_t)(close - r - 1))) t->plain = 0;
                q = close + 1;
            } else if (*r == '>') {
                t->plain = 0;  /* "name=" with no value */
                q = r;
            } else {
                while (r < end && !tok_space(*r) && *r != '>') {
                    if (*r == '"' || *r == '\'' || *r == '<' || *r == '=' || *r == '`' || *r == 0)
                        t->plain = 0;
                    r++;
                }
                q = r;
            }
        }
        a.end = q;
        if (t->n_attrs < (int)(sizeof t->attrs / sizeof t->attrs[0])) t->attrs[t->n_attrs++] = a;
        else t->plain = 0;
        t->attrs_end = q;
    }
}

typedef struct { const char *name; size_t len; int junk; } RawText;

/* Elements whose content the tokenizer does not read as markup (HTML5 raw text and RCDATA;
 * noscript is markup with scripting off, as in libxml2); junk ones are dropped by the
 * simplifier with their content. plaintext runs to the end of the input. */
static const RawText RAW_TEXT[] = {
    {"script", 6, 1}, {"style", 5, 1}, {"textarea", 8, 0}, {"title", 5, 0}, {"xmp", 3, 0},
    {"iframe", 6, 0}, {"noembed", 7, 0}, {"noframes", 8, 0}, {"plaintext", 9, 0}, {NULL, 0, 0}};

static const RawText *raw_text_of(const unsigned char *name, size_t n) {
    for (const RawText *r = RAW_TEXT; r->name; r++)
        if (r->len == n && ascii_casecmp_n(name, r->name, n)) return r;
    return NULL;
}

static int attr_needed(const AttrSpan *a, const NameSet *keep) {
    size_t n = (size_t)(a->name_end - a->name);
    char lower[64];
    if (n == 0 || n >= sizeof lower) return 1;
    for (size_t i = 0; i < n; i++) {
        if (a->name[i] >= 0x80) return 1;
        lower[i] = (char)Py_TOLOWER(a->name[i]);
    }
    if (n > 5 && memcmp(lower, "aria-", 5) == 0) return 1;
    return nameset_has(keep, lower, n);
}

/* One filtering pass; returns the number of junk raw-text elements (script/style) seen,
 * or -1 on error. *dropped: whether an attribute was dropped. */
static Py_ssize_t prefilter_pass(const unsigned char *p, const unsigned char *end, Buf *out,
                                 const NameSet *keep, int drop_attrs, int *dropped, int *odd_names) {
    Py_ssize_t junk_seen = 0;
    Tag t;
    *dropped = 0;
    *odd_names = 0;
    while (p < end) {
        const unsigned char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt) break;
        const unsigned char *resume;
        unsigned char c = lt + 1 < end ? lt[1] : 0;
        if (c == '!' && lt + 3 < end && lt[2] == '-' && lt[3] == '-') {
            resume = comment_end(lt, end);
        } else if (c == '!' || c == '?') {  /* bogus comment, doctype */
            const unsigned char *gt = memchr(lt, '>', (size_t)(end - lt));
            resume = gt ? gt + 1 : NULL;
        } else if (c == '/') {
            const unsigned char *q = lt + 2;
            if (q < end && Py_ISALPHA(*q)) resume = parse_tag(q, end, &t) ? t.end : NULL;
            else if (q < end && *q == '>') resume = q + 1;
            else {
                const unsigned char *gt = q < end ? memchr(q, '>', (size_t)(end - q)) : NULL;
                resume = gt ? gt + 1 : NULL;
            }
        } else if (Py_ISALPHA(c)) {
            if (!parse_tag(lt + 1, end, &t)) { resume = NULL; goto copy; }
            *odd_names |= t.odd_name;
            size_t name_len = (size_t)(t.name_end - lt - 1);
            const RawText *raw = raw_text_of(lt + 1, name_len);
            int rewrite = drop_attrs && t.plain && t.n_attrs &&
                          !(name_len == 4 && ascii_casecmp_n(lt + 1, "meta", 4));
            if (rewrite) {
                int any = 0;
                for (int i = 0; i < t.n_attrs; i++)
                    if (!(t.attrs[i].needed = attr_needed(&t.attrs[i], keep))) any = 1;
                rewrite = any;
            }
            if (buf_put(out, (const char *)p, (size_t)((rewrite ? t.name_end : t.end) - p)) < 0) return -1;
            if (rewrite) {
                for (int i = 0; i < t.n_attrs; i++) {
                    const AttrSpan *a = &t.attrs[i];
                    if (a->needed) {
                        if (buf_put(out, (const char *)a->start, (size_t)(a->end - a->start)) < 0) return -1;
                    } else {
                        *dropped = 1;
                    }
                }
                if (buf_put(out, (const char *)t.attrs_end, (size_t)(t.end - t.attrs_end)) < 0) return -1;
            }
            p = t.end;
            if (!raw || t.self_closing) continue;  /* <script/>: libxml2 closes it at once */
            if (raw->junk) junk_seen++;
            if (raw->len == 9) break;  /* plaintext: the rest is text, copied as it is */
            const unsigned char *close = find_end_tag(p, end, raw->name, raw->len);
            if (!close) break;  /* runs to the end: copied as it is */
            /* "<!--" in a script body opens HTML5's escape states (a nested "<script" then
             * hides the next "</script>"): where that script ends is not worth modelling,
             * so the rest of the page is copied as it is */
            if (raw->len == 6 && memmem(p, (size_t)(close - p), "<!--", 4)) break;
            if (!raw->junk && buf_put(out, (const char *)p, (size_t)(close - p)) < 0) return -1;
            p = close;
            continue;
        } else {  /* "<" as text */
            resume = lt + 1;
        }
copy:
        if (!resume) break;
        if (buf_put(out, (const char *)p, (size_t)(resume - p)) < 0) return -1;
        p = resume;
    }
    if (p < end && buf_put(out, (const char *)p, (size_t)(end - p)) < 0) return -1;
    return junk_seen;
}

PyDoc_STRVAR(prefilter_doc,
"prefilter(data: bytes, keep: frozenset | None) -> (bytes, attributes_dropped: bool)\n\n"
"Blank script/style bodies and, with keep, drop start-tag attributes that are neither in\n"
"keep nor aria-* (only on pages with a script or style element; see the comment above\n"
"prefilter_pass for what is never touched). Parsing the result gives the tree parsing\n"
"data gives, less those bodies and attributes.");

static PyObject *prefilter(PyObject *self, PyObject *args) {
    PyObject *data, *keep_obj, *result = NULL;
    NameSet keep;
    Buf out = {NULL, 0, 0};
    memset(&keep, 0, sizeof keep);
    if (!PyArg_ParseTuple(args, "SO", &data, &keep_obj)) return NULL;
    if (nameset_init(&keep, keep_obj) < 0) goto done;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    const unsigned char *end = p + PyBytes_GET_SIZE(data);
    if (buf_reserve(&out, (size_t)(end - p)) < 0) goto done;
    int drop = keep_obj != Py_None, dropped = 0, odd_names = 0;
    Py_ssize_t junk = prefilter_pass(p, end, &out, &keep, drop, &dropped, &odd_names);
    if (junk < 0) goto done;
    /* Attributes stay on a page without scripts or styles (they decide whether its names
     * are kept, see pipeline._is_prenamed) and on a page with an attribute name that makes
     * clean.strip_attributes rebuild attributes element by element. */
    if (dropped && (junk == 0 || odd_names)) {
        out.len = 0;
        if (prefilter_pass(p, end, &out, &keep, 0, &dropped, &odd_names) < 0) goto done;
    }
    result = Py_BuildValue("(y#O)", out.data ? out.data : "", (Py_ssize_t)out.len,
                           dropped ? Py_True : Py_False);
done:
    PyMem_Free(out.data);
    nameset_free(&keep);
    return result;
}

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"prune_mark", prune_mark, METH_VARARGS, prune_mark_doc},
    {"finalize_attributes", finalize_attributes, METH_VARARGS, finalize_attributes_doc},
    {"has_control_chars", has_control_chars, METH_VARARGS, has_control_chars_doc},
    {"prefilter", prefilter, METH_VARARGS, prefilter_doc},
    {"text_of", text_of, METH_VARARGS, text_of_doc},
    {"element_records", element_records, METH_VARARGS, element_records_doc},
    {"naming_contexts", naming_contexts, METH_VARARGS, naming_contexts_doc},
    {"own_slug", own_slug, METH_VARARGS, own_slug_doc},
    {"collapse_html", collapse_html, METH_VARARGS, collapse_html_doc},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups",
    "C accelerator for shop_env.html (optional; the package falls back to Python).",
    -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    init_special_bytes();
    if (import_lxml__etree() < 0) return NULL;
    PyObject *etree = PyImport_ImportModule("lxml.etree");
    if (!etree) return NULL;
    element_type = (PyTypeObject *)PyObject_GetAttrString(etree, "_Element");
    PyObject *path = PyObject_GetAttrString(etree, "__file__");
    Py_DECREF(etree);
    if (!element_type || !path) { Py_XDECREF(path); return NULL; }
    const char *file = PyUnicode_AsUTF8(path);
    void *lib = file ? dlopen(file, RTLD_LAZY | RTLD_NOLOAD) : NULL;
    if (lib) {
        xml_node_set_name = (set_name_fn)dlsym(lib, "xmlNodeSetName");
        dlclose(lib);  /* drops the reference NOLOAD took; lxml.etree stays loaded */
    }
    PyErr_Clear();
    Py_DECREF(path);
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "direct_rename", xml_node_set_name != NULL) < 0) Py_CLEAR(m);
    return m;
}
