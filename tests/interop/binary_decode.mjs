// Decodes frame payloads made by our codec with Baileys' decodeBinaryNode, and re-encodes what it got.
// stdin: {"payloads": [hex, ...]}  stdout: [{"node": json, "hex": re-encoded hex} | {"error": text}, ...]
import { decodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/decode.js'
import { encodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/encode.js'
import { readStdinJson, toJson } from './binary_json.mjs'

const { payloads } = await readStdinJson()
const results = []
for (const hex of payloads) {
	try {
		const node = await decodeBinaryNode(Buffer.from(hex, 'hex'))
		results.push({ node: toJson(node), hex: encodeBinaryNode(node).toString('hex') })
	} catch (err) {
		results.push({ error: String(err && err.stack ? err.stack : err) })
	}
}
process.stdout.write(JSON.stringify(results))
