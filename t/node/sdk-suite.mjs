// sdk-suite.mjs: the AWS SDK for JavaScript v3 (@aws-sdk/client-s3 and @aws-sdk/lib-storage)
// against an S3 endpoint, with the SDK's defaults (CRC32 request checksums, path-style being
// the only setting besides the endpoint and the credentials).  Run by t/s3-sdk-js.t:
//
//   S3_ENDPOINT=http://127.0.0.1:PORT S3_BUCKET=name S3_ACCESS_KEY=.. S3_SECRET_KEY=.. \
//       node t/node/sdk-suite.mjs
//
// Prints one JSON object a line: {"ok": bool, "name": "...", "diag": "..."} per check, then
// {"done": true}.  The .t wrapper turns them into TAP.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import {
  S3Client, PutObjectCommand, GetObjectCommand, HeadObjectCommand, DeleteObjectsCommand,
  ListObjectsV2Command, CopyObjectCommand, paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const endpoint = process.env.S3_ENDPOINT;
const Bucket = process.env.S3_BUCKET;
const MiB = 1024 * 1024;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}
function ok(cond, name, diag) {
  emit({ ok: !!cond, name, diag: cond ? undefined : diag });
  return !!cond;
}
function is(got, want, name) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  return ok(g === w, name, `got ${g}\nexpected ${w}`);
}
function note(text) {
  emit({ note: text });
}
function describe(e) {
  return `${e && e.name}: ${e && e.message} (HTTP ${e && e.$metadata && e.$metadata.httpStatusCode})`;
}
async function check(name, fn) {
  try {
    await fn();
  } catch (e) {
    ok(false, name, describe(e) + "\n" + (e && e.stack || ""));
  }
}

const crc32 = (buf) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(zlib.crc32(buf) >>> 0);
  return b.toString("base64");
};
const md5 = (buf) => createHash("md5").update(buf).digest("hex");
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
function pattern(size, seed) {
  // deterministic bytes: a SHA-256 counter stream
  const out = Buffer.alloc(size);
  let off = 0, i = 0;
  while (off < size) {
    const block = createHash("sha256").update(`${seed}:${i++}`).digest();
    off += block.copy(out, off);
  }
  return out;
}
function chunks(buf, size) {
  const out = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}
async function bodyBytes(body) {
  return Buffer.from(await body.transformToByteArray());
}

const client = new S3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: process.env.S3_ACCESS_KEY, secretAccessKey: process.env.S3_SECRET_KEY },
});

// What the SDK put on the wire, per command: the last request's headers.
const sent = {};
client.middlewareStack.add(
  (next, context) => async (args) => {
    if (args.request && args.request.headers) {
      (sent[context.commandName] ||= []).push({ ...args.request.headers });
    }
    return next(args);
  },
  { step: "deserialize", name: "s3muxCapture", priority: "low" },
);
function lastSent(command) {
  const list = sent[command] || [];
  return list[list.length - 1] || {};
}

async function main() {
  // --- PutObject with the default checksums ---------------------------------------------
  const small = pattern(MiB + 17, "small");
  await check("PutObject of a Buffer with the default checksum", async () => {
    const r = await client.send(new PutObjectCommand({ Bucket, Key: "sdk/buffer.bin", Body: small }));
    const h = lastSent("PutObjectCommand");
    note(`PutObject (Buffer) sent: x-amz-content-sha256=${h["x-amz-content-sha256"]} ` +
      `x-amz-checksum-crc32=${h["x-amz-checksum-crc32"]} x-amz-trailer=${h["x-amz-trailer"]} ` +
      `x-amz-sdk-checksum-algorithm=${h["x-amz-sdk-checksum-algorithm"]}`);
    ok(h["x-amz-checksum-crc32"] || h["x-amz-trailer"], "PutObject (Buffer): the SDK sent a CRC32 checksum",
      JSON.stringify(h));
    is(r.ETag, `"${md5(small)}"`, "PutObject (Buffer): ETag is the MD5");
    is(r.ChecksumCRC32, crc32(small), "PutObject (Buffer): the response carries the CRC32");
  });
  const streamed = pattern(3 * MiB + 5, "streamed");
  await check("PutObject of a stream with the default checksum", async () => {
    const r = await client.send(new PutObjectCommand({
      Bucket, Key: "sdk/stream.bin", Body: Readable.from(chunks(streamed, 64 * 1024)),
      ContentLength: streamed.length,
    }));
    const h = lastSent("PutObjectCommand");
    note(`PutObject (stream) sent: x-amz-content-sha256=${h["x-amz-content-sha256"]} ` +
      `content-encoding=${h["content-encoding"]} x-amz-trailer=${h["x-amz-trailer"]} ` +
      `x-amz-decoded-content-length=${h["x-amz-decoded-content-length"]}`);
    is([h["x-amz-content-sha256"], h["x-amz-trailer"]],
      ["STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-checksum-crc32"],
      "PutObject (stream): sent as aws-chunked with a CRC32 trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER)");
    is(r.ETag, `"${md5(streamed)}"`, "PutObject (stream): ETag is the MD5 of the decoded body");
    is(r.ChecksumCRC32, crc32(streamed), "PutObject (stream): the response carries the CRC32");
  });

  // --- GetObject / HeadObject with ChecksumMode ENABLED ---------------------------------------
  for (const [key, data] of [["sdk/buffer.bin", small], ["sdk/stream.bin", streamed]]) {
    await check(`GetObject ChecksumMode ENABLED of ${key}`, async () => {
      const g = await client.send(new GetObjectCommand({ Bucket, Key: key, ChecksumMode: "ENABLED" }));
      const bytes = await bodyBytes(g.Body);
      ok(bytes.equals(data), `GetObject ChecksumMode ENABLED (${key}): the bytes`, `${bytes.length} bytes`);
      is(g.ChecksumCRC32, crc32(data), `GetObject ChecksumMode ENABLED (${key}): x-amz-checksum-crc32 returned`);
      const h = await client.send(new HeadObjectCommand({ Bucket, Key: key, ChecksumMode: "ENABLED" }));
      is(h.ChecksumCRC32, crc32(data), `HeadObject ChecksumMode ENABLED (${key}): x-amz-checksum-crc32 returned`);
    });
  }

  // --- multipart through lib-storage ---------------------------------------------------------
  const big = pattern(20 * MiB + 3, "lib-storage");
  await check("lib-storage Upload of 20 MiB", async () => {
    const started = Date.now();
    const up = new Upload({
      client, queueSize: 4, partSize: 5 * MiB, leavePartsOnError: false,
      params: { Bucket, Key: "sdk/multipart.bin", Body: Readable.from(chunks(big, 256 * 1024)),
        ContentType: "application/x-sdk", Metadata: { via: "lib-storage" } },
    });
    let parts = 0;
    up.on("httpUploadProgress", (p) => { if (p.part) parts = Math.max(parts, p.part); });
    const r = await up.done();
    note(`lib-storage Upload of 20 MiB: ${Date.now() - started} ms, ${parts} parts`);
    const md5s = chunks(big, 5 * MiB).map((c) => createHash("md5").update(c).digest());
    const want = `"${createHash("md5").update(Buffer.concat(md5s)).digest("hex")}-${md5s.length}"`;
    is(r.ETag, want, "lib-storage Upload (20 MiB, partSize 5 MiB, queueSize 4): ETag = MD5 of the part MD5s + \"-5\"");
    const hp = lastSent("UploadPartCommand");
    note(`UploadPart sent: x-amz-content-sha256=${hp["x-amz-content-sha256"]} ` +
      `x-amz-checksum-crc32=${hp["x-amz-checksum-crc32"]} x-amz-trailer=${hp["x-amz-trailer"]}`);
    const hc = lastSent("CreateMultipartUploadCommand");
    note(`CreateMultipartUpload sent: x-amz-checksum-algorithm=${hc["x-amz-checksum-algorithm"]} ` +
      `x-amz-checksum-type=${hc["x-amz-checksum-type"]}`);
    const g = await client.send(new GetObjectCommand({ Bucket, Key: "sdk/multipart.bin", ChecksumMode: "ENABLED" }));
    const bytes = await bodyBytes(g.Body);
    is([bytes.length, sha256(bytes)], [big.length, sha256(big)], "the multipart object reads back identical");
    is([g.ContentType, g.Metadata], ["application/x-sdk", { via: "lib-storage" }],
      "the multipart object has its Content-Type and metadata");
    // AWS: an upload created with x-amz-checksum-algorithm CRC32 (what lib-storage sends) and
    // no x-amz-checksum-type gets a COMPOSITE checksum: the CRC32 of the parts' binary CRC32s,
    // base64, "-" and the part count
    const composite = crc32(Buffer.concat(chunks(big, 5 * MiB).map((c) => Buffer.from(crc32(c), "base64")))) +
      `-${md5s.length}`;
    note(`CompleteMultipartUpload answered ChecksumCRC32=${r.ChecksumCRC32}; GetObject ChecksumMode ENABLED: ` +
      `ChecksumCRC32=${g.ChecksumCRC32} ChecksumType=${g.ChecksumType}; composite CRC32 ${composite}`);
    is([g.ChecksumCRC32, g.ChecksumType], [composite, "COMPOSITE"],
      "GetObject ChecksumMode ENABLED of the multipart object: the COMPOSITE CRC32 of its parts");
  });
  await check("lib-storage Upload of a small body (one PutObject)", async () => {
    const data = pattern(1000, "tiny");
    const r = await new Upload({ client, params: { Bucket, Key: "sdk/tiny.bin", Body: data } }).done();
    is(r.ETag, `"${md5(data)}"`, "lib-storage Upload of 1000 bytes: a single PUT");
  });

  // --- ListObjectsV2 paginator ----------------------------------------------------------------
  const keys = Array.from({ length: 25 }, (_, i) => `pg/key-${String(i).padStart(3, "0")}`);
  await check("ListObjectsV2 paginator", async () => {
    for (let i = 0; i < keys.length; i += 5) {
      await Promise.all(keys.slice(i, i + 5).map((Key) =>
        client.send(new PutObjectCommand({ Bucket, Key, Body: Key }))));
    }
    const got = [];
    let pages = 0;
    for await (const page of paginateListObjectsV2({ client, pageSize: 7 }, { Bucket, Prefix: "pg/" })) {
      pages++;
      for (const c of page.Contents || []) got.push(c.Key);
      if (pages > 10) break;
    }
    is(got, keys, "paginateListObjectsV2 (pageSize 7): every key once, in order");
    is(pages, 4, "paginateListObjectsV2: 4 pages for 25 keys");
  });

  // --- DeleteObjects ---------------------------------------------------------------------
  await check("DeleteObjects", async () => {
    const r = await client.send(new DeleteObjectsCommand({
      Bucket, Delete: { Objects: [...keys, "pg/missing"].map((Key) => ({ Key })) },
    }));
    const h = lastSent("DeleteObjectsCommand");
    note(`DeleteObjects sent: content-md5=${h["content-md5"]} x-amz-checksum-crc32=${h["x-amz-checksum-crc32"]}`);
    is([(r.Deleted || []).map((d) => d.Key).sort(), r.Errors || []], [[...keys, "pg/missing"].sort(), []],
      "DeleteObjects of 26 keys (one missing): all Deleted, no Errors");
    const l = await client.send(new ListObjectsV2Command({ Bucket, Prefix: "pg/" }));
    is([l.KeyCount, l.Contents || []], [0, []], "after DeleteObjects the prefix is empty");
  });

  // --- conditional PUT -----------------------------------------------------------------
  await check("conditional PutObject", async () => {
    const r = await client.send(new PutObjectCommand({ Bucket, Key: "sdk/cond", Body: "first", IfNoneMatch: "*" }));
    is(r.$metadata.httpStatusCode, 200, "PutObject IfNoneMatch \"*\" on a new key: 200");
    try {
      await client.send(new PutObjectCommand({ Bucket, Key: "sdk/cond", Body: "second", IfNoneMatch: "*" }));
      ok(false, "PutObject IfNoneMatch \"*\" again: 412", "no error");
    } catch (e) {
      is([e.name, e.$metadata && e.$metadata.httpStatusCode], ["PreconditionFailed", 412],
        "PutObject IfNoneMatch \"*\" again: 412 PreconditionFailed");
    }
    const g = await client.send(new GetObjectCommand({ Bucket, Key: "sdk/cond" }));
    is(await g.Body.transformToString(), "first", "... the first object stays");
    try {
      await client.send(new PutObjectCommand({ Bucket, Key: "sdk/cond", Body: "third", IfMatch: `"${md5("nope")}"` }));
      ok(false, "PutObject IfMatch a wrong ETag: 412", "no error");
    } catch (e) {
      is([e.name, e.$metadata && e.$metadata.httpStatusCode], ["PreconditionFailed", 412],
        "PutObject IfMatch a wrong ETag: 412 PreconditionFailed");
    }
    const r2 = await client.send(new PutObjectCommand({ Bucket, Key: "sdk/cond", Body: "fourth", IfMatch: `"${md5("first")}"` }));
    is(r2.ETag, `"${md5("fourth")}"`, "PutObject IfMatch the right ETag: replaced");
  });

  // --- a few more of what applications do ---------------------------------------------
  await check("CopyObject, Range, tagging count", async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: "sdk/tagged", Body: "tagged body", Tagging: "a=1&b=2" }));
    const g = await client.send(new GetObjectCommand({ Bucket, Key: "sdk/tagged", Range: "bytes=0-5" }));
    is([await g.Body.transformToString(), g.ContentRange, g.TagCount], ["tagged", "bytes 0-5/11", 2],
      "GetObject Range bytes=0-5: the range, Content-Range, x-amz-tagging-count 2");
    const c = await client.send(new CopyObjectCommand({ Bucket, Key: "sdk/copied", CopySource: `${Bucket}/sdk/tagged` }));
    is(c.CopyObjectResult && c.CopyObjectResult.ETag, `"${md5("tagged body")}"`, "CopyObject: the source's ETag");
  });
}

try {
  await main();
} catch (e) {
  ok(false, "the suite ran to its end", describe(e) + "\n" + (e && e.stack));
}
emit({ done: true });
client.destroy();
