/*
 * harness.c - drives Wine's msi.dll for the msp-retarget conformance suite.
 *
 * Build: x86_64-w64-mingw32-gcc -municode -O2 -o harness.exe harness.c -lmsi -lole32
 *
 * Every result is printed as one line of space-separated key=value pairs,
 * starting with op=<subcommand>.  Values never contain spaces (paths are
 * printed as given; the runner uses paths without spaces).  A value that
 * could not be read is printed as "-".
 *
 * Subcommands:
 *   applicable PACKAGE.msi PATCH.msp...
 *       MsiDetermineApplicablePatchesW on the package file; one line per patch
 *       (order = dwOrder as a signed number, status = uStatus), then a summary
 *       line with the call's return code.
 *   sequence PRODUCTCODE PATCH.msp...
 *       MsiDeterminePatchSequenceW for the installed product (per-machine
 *       context); one line per patch (order, status), then a summary line
 *       with the call's return code.
 *   install PACKAGE.msi [PROPERTIES]
 *       MsiInstallProductW with no UI; prints rc, the package's ProductCode
 *       (read from its Property table) and the installed ProductVersion.
 *   patch PRODUCTCODE|* PATCH.msp...
 *       MsiApplyMultiplePatchesW(patches joined by ';', product, NULL); "*"
 *       passes a NULL product, so the installer picks the targets from the
 *       patch Template (the route msiexec /p takes).  Prints rc, then the
 *       state of every installed product (see "products").
 *   query PRODUCTCODE
 *       The product's installed version and its registered patches.
 *   transform PACKAGE.msi TRANSFORM [commit]
 *       Opens the package in transacted mode, MsiDatabaseApplyTransformW
 *       (TRANSFORM is ":NAME" for a transform embedded in the package, or a
 *       path), prints rc, then every Property row (op=property name= value=)
 *       and every Component row (op=component component= id=) as msi.dll
 *       reads them after the transform; "commit" then writes the transformed
 *       database back (MsiDatabaseCommit; pass a copy).
 *   products
 *       Every installed product with its version, and every registered patch.
 *   components DATABASE.msi TRANSFORM...
 *       Opens the database read-only, applies each transform in order with
 *       MsiDatabaseApplyTransformW (error conditions 0), then reads
 *       SELECT `Component`, `ComponentId` FROM `Component`.  A TRANSFORM is
 *       ":NAME" (a substorage of the database itself, as Windows Installer
 *       names embedded instance transforms), "FILE:NAME" (substorage NAME of
 *       the compound file FILE, e.g. a transform of a patch, copied with
 *       IStorage into a temporary .mst first) or a stand-alone .mst.  One
 *       line per transform (rc), one per Component row (key, id).
 *   clients COMPONENTCODE...
 *       MsiEnumClientsW: one line per client product of each component,
 *       then a line with the count.
 *   patchseq PATCH.msp
 *       Opens the patch's own database read-only as a patch file
 *       (MSIDBOPEN_READONLY + MSIDBOPEN_PATCHFILE) and reads
 *       SELECT `PatchFamily`, `ProductCode`, `Sequence`, `Attributes` FROM
 *       `MsiPatchSequence`: one line per row in the order msi.dll gives
 *       (a NULL ProductCode or Attributes is printed as "-"), then a line
 *       with the return code.
 *
 * Arguments that start with '/' are taken as Unix paths and passed to
 * Windows as Z:\... paths.
 *
 * Exit status: 0 when the subcommand ran (whatever the installer decided;
 * the decision is in the printed lines), 2 on usage or internal errors.
 */

#ifndef UNICODE
#define UNICODE
#endif
#ifndef _UNICODE
#define _UNICODE
#endif
#define COBJMACROS
#include <windows.h>
#include <objbase.h>
#include <msi.h>
#include <msiquery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define GUID_CCH 39

static void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* Narrow a wide string for printing (ASCII is all we expect; others become '?'). */
static const char *nw(const WCHAR *w, char *buf, size_t size)
{
    size_t i = 0;
    if (!w || !w[0]) {
        snprintf(buf, size, "-");
        return buf;
    }
    for (; w[i] && i + 1 < size; i++)
        buf[i] = (w[i] > 0x20 && w[i] < 0x7f) ? (char)w[i] : '?';
    buf[i] = 0;
    return buf;
}

/* Unix path -> Z:\ path; anything else is copied unchanged.  Caller frees. */
static WCHAR *winpath(const WCHAR *arg)
{
    size_t n = wcslen(arg);
    WCHAR *p = malloc((n + 3) * sizeof(WCHAR));
    size_t i;
    if (!p)
        return NULL;
    if (arg[0] == L'/') {
        p[0] = L'Z';
        p[1] = L':';
        for (i = 0; i <= n; i++)
            p[i + 2] = arg[i] == L'/' ? L'\\' : arg[i];
    } else {
        memcpy(p, arg, (n + 1) * sizeof(WCHAR));
    }
    return p;
}

/* ProductCode from the package's Property table, into buf (GUID_CCH+). */
static UINT package_product_code(const WCHAR *package, WCHAR *buf, DWORD cch)
{
    MSIHANDLE db = 0, view = 0, rec = 0;
    UINT r;

    buf[0] = 0;
    r = MsiOpenDatabaseW(package, MSIDBOPEN_READONLY, &db);
    if (r)
        return r;
    r = MsiDatabaseOpenViewW(db,
            L"SELECT `Value` FROM `Property` WHERE `Property`='ProductCode'", &view);
    if (!r)
        r = MsiViewExecute(view, 0);
    if (!r)
        r = MsiViewFetch(view, &rec);
    if (!r)
        r = MsiRecordGetStringW(rec, 1, buf, &cch);
    if (rec)
        MsiCloseHandle(rec);
    if (view)
        MsiCloseHandle(view);
    MsiCloseHandle(db);
    return r;
}

static void product_version(const WCHAR *product, char *buf, size_t size)
{
    WCHAR v[64];
    DWORD cch = 64;
    UINT r = MsiGetProductInfoW(product, INSTALLPROPERTY_VERSIONSTRING, v, &cch);
    if (r)
        snprintf(buf, size, "-");
    else
        nw(v, buf, size);
}

static void patch_info(const WCHAR *patch, const WCHAR *product, MSIINSTALLCONTEXT ctx,
                       const WCHAR *sid, const WCHAR *prop, char *buf, size_t size)
{
    WCHAR v[1024];
    DWORD cch = 1024;
    UINT r = MsiGetPatchInfoExW(patch, product, (sid && sid[0]) ? sid : NULL, ctx, prop, v, &cch);
    if (r)
        snprintf(buf, size, "-");
    else
        nw(v, buf, size);
}

/* One "op=patchstate" line per patch registered for product (NULL = all products). */
static int print_patches(const WCHAR *product)
{
    DWORD i;
    int count = 0;
    for (i = 0;; i++) {
        WCHAR code[GUID_CCH], target[GUID_CCH], sid[256];
        DWORD sidcch = 256;
        MSIINSTALLCONTEXT ctx = 0;
        char a[64], b[64], state[64], xf[1024], c[64];
        UINT r = MsiEnumPatchesExW(product, NULL, MSIINSTALLCONTEXT_ALL, MSIPATCHSTATE_ALL, i,
                                   code, target, &ctx, sid, &sidcch);
        if (r == ERROR_NO_MORE_ITEMS)
            break;
        if (r) {
            out("op=patchstate product=%s enum_rc=%u\n",
                product ? nw(product, c, sizeof c) : "*", r);
            break;
        }
        patch_info(code, target, ctx, sid, INSTALLPROPERTY_PATCHSTATE, state, sizeof state);
        patch_info(code, target, ctx, sid, INSTALLPROPERTY_TRANSFORMS, xf, sizeof xf);
        out("op=patchstate product=%s patch=%s context=%u state=%s transforms=%s\n",
            nw(target, a, sizeof a), nw(code, b, sizeof b), (unsigned)ctx, state, xf);
        count++;
    }
    return count;
}

/* One "op=product" line per installed product, each followed by its patches. */
static void print_products(void)
{
    DWORD i;
    for (i = 0;; i++) {
        WCHAR code[GUID_CCH];
        char a[64], v[64];
        UINT r = MsiEnumProductsW(i, code);
        if (r == ERROR_NO_MORE_ITEMS)
            break;
        if (r) {
            out("op=product enum_rc=%u\n", r);
            break;
        }
        product_version(code, v, sizeof v);
        out("op=product product=%s version=%s\n", nw(code, a, sizeof a), v);
        print_patches(code);
    }
}

static int cmd_applicable(int argc, WCHAR **argv)
{
    DWORD n = (DWORD)(argc - 1), i;
    MSIPATCHSEQUENCEINFOW *info;
    WCHAR *package;
    char a[1024];
    UINT r;

    if (argc < 2)
        return 2;
    package = winpath(argv[0]);
    info = calloc(n, sizeof *info);
    if (!package || !info)
        return 2;
    for (i = 0; i < n; i++) {
        info[i].szPatchData = winpath(argv[i + 1]);
        info[i].ePatchDataType = MSIPATCH_DATATYPE_PATCHFILE;
        info[i].dwOrder = (DWORD)-2;   /* marks "not written by the call" */
        info[i].uStatus = 0xffffffff;
    }
    r = MsiDetermineApplicablePatchesW(package, n, info);
    for (i = 0; i < n; i++)
        out("op=applicable patch=%s order=%ld status=%u\n",
            nw(argv[i + 1], a, sizeof a), (long)(LONG)info[i].dwOrder, info[i].uStatus);
    out("op=applicable-done package=%s rc=%u\n", nw(argv[0], a, sizeof a), r);
    return 0;
}

static int cmd_sequence(int argc, WCHAR **argv)
{
    DWORD n = (DWORD)(argc - 1), i;
    MSIPATCHSEQUENCEINFOW *info;
    char a[1024];
    UINT r;

    if (argc < 2)
        return 2;
    info = calloc(n, sizeof *info);
    if (!info)
        return 2;
    for (i = 0; i < n; i++) {
        info[i].szPatchData = winpath(argv[i + 1]);
        info[i].ePatchDataType = MSIPATCH_DATATYPE_PATCHFILE;
        info[i].dwOrder = (DWORD)-2;   /* marks "not written by the call" */
        info[i].uStatus = 0xffffffff;
    }
    r = MsiDeterminePatchSequenceW(argv[0], NULL, MSIINSTALLCONTEXT_MACHINE, n, info);
    for (i = 0; i < n; i++)
        out("op=sequence patch=%s order=%ld status=%u\n",
            nw(argv[i + 1], a, sizeof a), (long)(LONG)info[i].dwOrder, info[i].uStatus);
    out("op=sequence-done product=%s rc=%u\n", nw(argv[0], a, sizeof a), r);
    return 0;
}

static int cmd_install(int argc, WCHAR **argv)
{
    WCHAR *package, code[GUID_CCH + 8];
    char a[1024], b[64], v[64];
    UINT r, rc;

    if (argc < 1)
        return 2;
    package = winpath(argv[0]);
    if (!package)
        return 2;
    r = package_product_code(package, code, GUID_CCH + 8);
    rc = MsiInstallProductW(package, argc > 1 ? argv[1] : L"");
    if (r) {
        out("op=install package=%s rc=%u product=- version=- read_rc=%u\n",
            nw(argv[0], a, sizeof a), rc, r);
        return 0;
    }
    product_version(code, v, sizeof v);
    out("op=install package=%s rc=%u product=%s version=%s\n",
        nw(argv[0], a, sizeof a), rc, nw(code, b, sizeof b), v);
    return 0;
}

static int cmd_patch(int argc, WCHAR **argv)
{
    const WCHAR *product;
    WCHAR *list;
    size_t len = 1;
    int i;
    char a[64];
    UINT r;

    if (argc < 2)
        return 2;
    product = wcscmp(argv[0], L"*") ? argv[0] : NULL;
    for (i = 1; i < argc; i++)
        len += wcslen(argv[i]) + 4;
    list = calloc(len, sizeof(WCHAR));
    if (!list)
        return 2;
    for (i = 1; i < argc; i++) {
        WCHAR *p = winpath(argv[i]);
        if (!p)
            return 2;
        if (i > 1)
            wcscat(list, L";");
        wcscat(list, p);
        free(p);
    }
    r = MsiApplyMultiplePatchesW(list, product, NULL);
    out("op=patch product=%s rc=%u\n", product ? nw(product, a, sizeof a) : "*", r);
    print_products();
    return 0;
}

static int cmd_query(int argc, WCHAR **argv)
{
    char a[64], v[64];
    if (argc < 1)
        return 2;
    product_version(argv[0], v, sizeof v);
    out("op=product product=%s version=%s\n", nw(argv[0], a, sizeof a), v);
    print_patches(argv[0]);
    return 0;
}

/* Copies substorage `name` of the compound file `file` (with its class) into
 * a new stand-alone file `dst`. */
static HRESULT extract_storage(const WCHAR *file, const WCHAR *name, const WCHAR *dst)
{
    IStorage *stg = NULL, *sub = NULL, *out = NULL;
    STATSTG st;
    HRESULT hr = StgOpenStorage(file, NULL, STGM_READ | STGM_SHARE_DENY_WRITE, NULL, 0, &stg);
    if (SUCCEEDED(hr))
        hr = IStorage_OpenStorage(stg, name, NULL, STGM_READ | STGM_SHARE_EXCLUSIVE, NULL, 0, &sub);
    if (SUCCEEDED(hr))
        hr = IStorage_Stat(sub, &st, STATFLAG_NONAME);
    if (SUCCEEDED(hr))
        hr = StgCreateDocfile(dst, STGM_CREATE | STGM_READWRITE | STGM_SHARE_EXCLUSIVE, 0, &out);
    if (SUCCEEDED(hr))
        hr = IStorage_CopyTo(sub, 0, NULL, NULL, out);
    if (SUCCEEDED(hr))
        hr = IStorage_SetClass(out, &st.clsid);
    if (SUCCEEDED(hr))
        hr = IStorage_Commit(out, STGC_DEFAULT);
    if (out)
        IStorage_Release(out);
    if (sub)
        IStorage_Release(sub);
    if (stg)
        IStorage_Release(stg);
    return hr;
}

static int cmd_components(int argc, WCHAR **argv)
{
    MSIHANDLE db = 0, view = 0, rec = 0;
    WCHAR *path, key[256], id[64], tmpdir[MAX_PATH], tmp[MAX_PATH];
    char a[512], b[256], c[64];
    DWORD cch;
    UINT r;
    int i;

    if (argc < 1)
        return 2;
    CoInitialize(NULL);
    path = winpath(argv[0]);
    r = MsiOpenDatabaseW(path, MSIDBOPEN_READONLY, &db);
    out("op=open db=%s rc=%u\n", nw(argv[0], a, sizeof a), r);
    free(path);
    if (r)
        return 0;
    GetTempPathW(MAX_PATH, tmpdir);
    for (i = 1; i < argc; i++) {
        WCHAR *arg = _wcsdup(argv[i]);
        WCHAR *colon = arg[0] == L':' ? NULL : wcsrchr(arg, L':');
        if (colon && colon != arg + 1) {
            /* FILE:NAME - extract NAME into a temporary .mst */
            HRESULT hr;
            *colon = 0;
            path = winpath(arg);
            GetTempFileNameW(tmpdir, L"mst", 0, tmp);
            hr = extract_storage(path, colon + 1, tmp);
            free(path);
            if (FAILED(hr)) {
                out("op=transform transform=%s rc=extract-0x%08lx\n", nw(argv[i], a, sizeof a),
                    (unsigned long)hr);
                free(arg);
                continue;
            }
            r = MsiDatabaseApplyTransformW(db, tmp, 0);
            DeleteFileW(tmp);
        } else {
            path = winpath(arg);
            r = MsiDatabaseApplyTransformW(db, path, 0);
            free(path);
        }
        out("op=transform transform=%s rc=%u\n", nw(argv[i], a, sizeof a), r);
        free(arg);
    }
    r = MsiDatabaseOpenViewW(db, L"SELECT `Component`, `ComponentId` FROM `Component`", &view);
    if (!r)
        r = MsiViewExecute(view, 0);
    while (!r && MsiViewFetch(view, &rec) == ERROR_SUCCESS) {
        cch = 256;
        if (MsiRecordGetStringW(rec, 1, key, &cch))
            key[0] = 0;
        cch = 64;
        if (MsiRecordGetStringW(rec, 2, id, &cch))
            id[0] = 0;
        out("op=component key=%s id=%s\n", nw(key, b, sizeof b), nw(id, c, sizeof c));
        MsiCloseHandle(rec);
    }
    out("op=components-done rc=%u\n", r);
    if (view)
        MsiCloseHandle(view);
    MsiCloseHandle(db);
    return 0;
}

/* Prints every row of a two-column query as op=OP K=... V=... */
static void print_rows(MSIHANDLE db, const WCHAR *sql, const char *op, const char *k,
                       const char *v)
{
    MSIHANDLE view = 0, rec = 0;
    WCHAR a[512], b[512];
    char na[512], nb[512];
    DWORD sa, sb;
    UINT r = MsiDatabaseOpenViewW(db, sql, &view);
    if (r == ERROR_SUCCESS)
        r = MsiViewExecute(view, 0);
    if (r != ERROR_SUCCESS) {
        out("op=%s-error rc=%u\n", op, r);
        if (view)
            MsiCloseHandle(view);
        return;
    }
    while (MsiViewFetch(view, &rec) == ERROR_SUCCESS) {
        sa = sizeof a / sizeof a[0];
        sb = sizeof b / sizeof b[0];
        if (MsiRecordGetStringW(rec, 1, a, &sa) != ERROR_SUCCESS)
            a[0] = 0;
        if (MsiRecordGetStringW(rec, 2, b, &sb) != ERROR_SUCCESS)
            b[0] = 0;
        out("op=%s %s=%s %s=%s\n", op, k, nw(a, na, sizeof na), v, nw(b, nb, sizeof nb));
        MsiCloseHandle(rec);
    }
    MsiCloseHandle(view);
}

static int cmd_transform(int argc, WCHAR **argv)
{
    WCHAR *package, *transform;
    MSIHANDLE db = 0;
    char a[1024], t[1024];
    UINT r;

    if (argc < 2)
        return 2;
    package = winpath(argv[0]);
    transform = winpath(argv[1]);
    if (!package || !transform)
        return 2;
    r = MsiOpenDatabaseW(package, MSIDBOPEN_TRANSACT, &db);
    if (r != ERROR_SUCCESS) {
        out("op=transform package=%s transform=%s open_rc=%u rc=-\n",
            nw(argv[0], a, sizeof a), nw(argv[1], t, sizeof t), r);
        return 0;
    }
    r = MsiDatabaseApplyTransformW(db, transform, 0);
    out("op=transform package=%s transform=%s open_rc=0 rc=%u\n",
        nw(argv[0], a, sizeof a), nw(argv[1], t, sizeof t), r);
    print_rows(db, L"SELECT `Property`, `Value` FROM `Property`", "property", "name", "value");
    print_rows(db, L"SELECT `Component`, `ComponentId` FROM `Component`", "component",
               "component", "id");
    if (argc > 2 && !wcscmp(argv[2], L"commit"))
        out("op=commit rc=%u\n", MsiDatabaseCommit(db));
    MsiCloseHandle(db);
    return 0;
}

static int cmd_clients(int argc, WCHAR **argv)
{
    char a[64], b[64];
    WCHAR product[GUID_CCH];
    int i;
    for (i = 0; i < argc; i++) {
        DWORD n = 0;
        UINT r;
        while ((r = MsiEnumClientsW(argv[i], n, product)) == ERROR_SUCCESS) {
            out("op=client component=%s product=%s\n", nw(argv[i], a, sizeof a),
                nw(product, b, sizeof b));
            n++;
        }
        out("op=clients component=%s count=%lu rc=%u\n", nw(argv[i], a, sizeof a),
            (unsigned long)n, r);
    }
    return 0;
}

static int cmd_patchseq(int argc, WCHAR **argv)
{
    MSIHANDLE db = 0, view = 0, rec = 0;
    WCHAR *path, fam[128], code[64], seq[64];
    char a[512], b[128], c[64], d[64], e[16];
    DWORD cch;
    UINT r;

    if (argc < 1)
        return 2;
    path = winpath(argv[0]);
    r = MsiOpenDatabaseW(path, MSIDBOPEN_READONLY + MSIDBOPEN_PATCHFILE, &db);
    out("op=open patch=%s rc=%u\n", nw(argv[0], a, sizeof a), r);
    free(path);
    if (r)
        return 0;
    r = MsiDatabaseOpenViewW(db,
        L"SELECT `PatchFamily`, `ProductCode`, `Sequence`, `Attributes` FROM `MsiPatchSequence`",
        &view);
    if (!r)
        r = MsiViewExecute(view, 0);
    while (!r && MsiViewFetch(view, &rec) == ERROR_SUCCESS) {
        cch = 128;
        if (MsiRecordGetStringW(rec, 1, fam, &cch))
            fam[0] = 0;
        cch = 64;
        if (MsiRecordIsNull(rec, 2) || MsiRecordGetStringW(rec, 2, code, &cch))
            wcscpy(code, L"-");
        cch = 64;
        if (MsiRecordGetStringW(rec, 3, seq, &cch))
            seq[0] = 0;
        if (MsiRecordIsNull(rec, 4))
            strcpy(e, "-");
        else
            snprintf(e, sizeof e, "%d", MsiRecordGetInteger(rec, 4));
        out("op=patchseq family=%s product=%s sequence=%s attributes=%s\n",
            nw(fam, b, sizeof b), nw(code, c, sizeof c), nw(seq, d, sizeof d), e);
        MsiCloseHandle(rec);
    }
    out("op=patchseq-done rc=%u\n", r);
    if (view)
        MsiCloseHandle(view);
    MsiCloseHandle(db);
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
        "usage: harness applicable PACKAGE.msi PATCH.msp...\n"
        "       harness sequence PRODUCTCODE PATCH.msp...\n"
        "       harness install PACKAGE.msi [PROPERTIES]\n"
        "       harness patch PRODUCTCODE|* PATCH.msp...\n"
        "       harness query PRODUCTCODE\n"
        "       harness transform PACKAGE.msi TRANSFORM [commit]\n"
        "       harness products\n"
        "       harness components DATABASE.msi TRANSFORM...\n"
        "       harness clients COMPONENTCODE...\n"
        "       harness patchseq PATCH.msp\n");
    return 2;
}

int wmain(int argc, WCHAR **argv)
{
    int r;
    if (argc < 2)
        return usage();
    MsiSetInternalUI(INSTALLUILEVEL_NONE, NULL);
    if (!wcscmp(argv[1], L"applicable"))
        r = cmd_applicable(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"sequence"))
        r = cmd_sequence(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"install"))
        r = cmd_install(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"transform"))
        r = cmd_transform(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"patch"))
        r = cmd_patch(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"query"))
        r = cmd_query(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"components"))
        r = cmd_components(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"clients"))
        r = cmd_clients(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"patchseq"))
        r = cmd_patchseq(argc - 2, argv + 2);
    else if (!wcscmp(argv[1], L"products")) {
        print_products();
        r = 0;
    } else
        return usage();
    return r == 2 ? usage() : r;
}
