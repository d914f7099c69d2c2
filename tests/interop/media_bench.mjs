// Baileys' side of bench/media_roundtrip.py: encrypt + upload, then download + decrypt, timed.
// argv: <media server base URL> <file path> <rounds>
// stdout: {"upload_s": [...], "download_s": [...], "ok": true}
// Upload as Baileys does it: encryptedStream (to a temporary file) then a POST of that file to the media
// host; download with downloadContentFromMessage (streamed decrypt) from the URL the host answered.
import { createReadStream, promises as fs } from 'fs'
import { downloadContentFromMessage, encryptedStream } from '@whiskeysockets/baileys/lib/Utils/messages-media.js'

const [base, file, roundsText] = process.argv.slice(2)
const rounds = Number(roundsText || '3')
const plain = await fs.readFile(file)
const upload_s = []
const download_s = []
let ok = true
for (let i = 0; i < rounds; i++) {
	let start = process.hrtime.bigint()
	const enc = await encryptedStream(plain, 'document')
	const { size } = await fs.stat(enc.encFilePath)
	const answer = await fetch(`${base}/mms/document/${i}`, {
		method: 'POST',
		body: createReadStream(enc.encFilePath),
		headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
		duplex: 'half'
	})
	const { url } = await answer.json()
	await fs.unlink(enc.encFilePath)
	upload_s.push(Number(process.hrtime.bigint() - start) / 1e9)

	start = process.hrtime.bigint()
	const stream = await downloadContentFromMessage({ mediaKey: enc.mediaKey, url }, 'document')
	let length = 0
	for await (const part of stream) length += part.length
	download_s.push(Number(process.hrtime.bigint() - start) / 1e9)
	ok = ok && length === plain.length
}
process.stdout.write(JSON.stringify({ upload_s, download_s, ok }))
