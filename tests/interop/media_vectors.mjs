// Media crypto by Baileys (lib/Utils/messages-media), for our connector/engines/web/media.
// stdin:  {"keys":    [{"kind": baileys media type, "mediaKey": hex}],
//          "encrypt": [{"kind", "plain": hex}],
//          "decrypt": [{"kind", "mediaKey": hex, "enc": hex}]}
// stdout: {"keys":      [{"iv", "cipherKey", "macKey"}]                       getMediaKeys
//          "encrypted": [{"mediaKey", "enc", "fileSha256", "fileEncSha256", "fileLength"}]   encryptedStream
//          "decrypted": [{"plain", "macOk", "fileEncSha256"}]}                 downloadContentFromMessage
//
// Baileys downloads over HTTP and never checks the MAC itself, so the bytes to decrypt are served from a
// loopback HTTP server and the MAC is judged with Baileys' own hmacSign over iv + ciphertext.
import { createServer } from 'http'
import { promises as fs } from 'fs'
import {
	downloadContentFromMessage,
	encryptedStream,
	getMediaKeys
} from '@whiskeysockets/baileys/lib/Utils/messages-media.js'
import { hmacSign, sha256 } from '@whiskeysockets/baileys/lib/Utils/crypto.js'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const hex = (text) => Buffer.from(text, 'hex')
const toHex = (buffer) => Buffer.from(buffer).toString('hex')

const keys = []
for (const { kind, mediaKey } of input.keys ?? []) {
	const { iv, cipherKey, macKey } = await getMediaKeys(hex(mediaKey), kind)
	keys.push({ iv: toHex(iv), cipherKey: toHex(cipherKey), macKey: toHex(macKey) })
}

const encrypted = []
for (const { kind, plain } of input.encrypt ?? []) {
	const result = await encryptedStream(hex(plain), kind)
	const enc = await fs.readFile(result.encFilePath)
	await fs.unlink(result.encFilePath)
	encrypted.push({
		mediaKey: toHex(result.mediaKey),
		enc: toHex(enc),
		fileSha256: toHex(result.fileSha256),
		fileEncSha256: toHex(result.fileEncSha256),
		fileLength: result.fileLength
	})
}

const served = new Map()
const server = createServer((request, response) => {
	const body = served.get(request.url)
	response.writeHead(body ? 200 : 404, { 'Content-Type': 'application/octet-stream' })
	response.end(body ?? '')
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const port = server.address().port

const decrypted = []
let index = 0
for (const { kind, mediaKey, enc } of input.decrypt ?? []) {
	const data = hex(enc)
	const path = `/file/${index++}`
	served.set(path, data)
	let plain = null
	try {
		const stream = await downloadContentFromMessage(
			{ mediaKey: hex(mediaKey), url: `http://127.0.0.1:${port}${path}` },
			kind
		)
		const parts = []
		for await (const part of stream) parts.push(part)
		plain = toHex(Buffer.concat(parts))
	} catch (error) {
		plain = null
	}
	const { iv, macKey } = await getMediaKeys(hex(mediaKey), kind)
	const body = data.subarray(0, data.length - 10)
	const mac = hmacSign(Buffer.concat([iv, body]), macKey).subarray(0, 10)
	decrypted.push({
		plain,
		macOk: data.length > 10 && Buffer.compare(mac, data.subarray(data.length - 10)) === 0,
		fileEncSha256: toHex(sha256(data))
	})
}
server.close()

process.stdout.write(JSON.stringify({ keys, encrypted, decrypted }))
