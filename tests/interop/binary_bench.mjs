// Times Baileys' encodeBinaryNode + decode on one node, for bench/binary_codec.py to compare with ours.
// stdin: {"node": json, "seconds": number}  stdout: {"hex", "encode_per_s", "decode_per_s", "roundtrip_per_s"}
import * as constants from '@whiskeysockets/baileys/lib/WABinary/constants.js'
import { decodeDecompressedBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/decode.js'
import { encodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/encode.js'
import { fromJson, readStdinJson } from './binary_json.mjs'

const { node: json, seconds } = await readStdinJson()
const node = fromJson(json)
const bytes = encodeBinaryNode(node)
// The sync decoder behind decodeBinaryNode: the flag byte is skipped exactly as Baileys does it.
const decode = (buf) => decodeDecompressedBinaryNode(buf.subarray(1), constants)

const rate = (fn) => {
	for (let i = 0; i < 2000; i++) fn() // warm up the JIT
	let count = 0
	const start = process.hrtime.bigint()
	const budget = BigInt(Math.round(seconds * 1e9))
	let elapsed = 0n
	while (elapsed < budget) {
		for (let i = 0; i < 200; i++) fn()
		count += 200
		elapsed = process.hrtime.bigint() - start
	}
	return count / (Number(elapsed) / 1e9)
}

process.stdout.write(JSON.stringify({
	hex: bytes.toString('hex'),
	encode_per_s: rate(() => encodeBinaryNode(node)),
	decode_per_s: rate(() => decode(bytes)),
	roundtrip_per_s: rate(() => decode(encodeBinaryNode(node)))
}))
