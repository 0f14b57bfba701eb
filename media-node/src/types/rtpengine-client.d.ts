// rtpengine-client 0.4.12 ships no types; only what media/rtpengine-controller.ts uses is declared.
declare module 'rtpengine-client' {
  import { EventEmitter } from 'node:events';
  export type NgParams = Record<string, unknown>;
  export type NgReply = { result: string; 'error-reason'?: string; [key: string]: unknown };
  type Dest = { port: number; host: string };
  export class Client extends EventEmitter {
    constructor(opts: { localPort?: number; localAddress?: string; timeout?: number; rejectOnError?: boolean });
    ping(dest: Dest): Promise<NgReply>;
    offer(dest: Dest, params: NgParams): Promise<NgReply>;
    answer(dest: Dest, params: NgParams): Promise<NgReply>;
    delete(dest: Dest, params: NgParams): Promise<NgReply>;
    query(dest: Dest, params: NgParams): Promise<NgReply>;
    playMedia(dest: Dest, params: NgParams): Promise<NgReply>;
    stopMedia(dest: Dest, params: NgParams): Promise<NgReply>;
    playDTMF(dest: Dest, params: NgParams): Promise<NgReply>;
    startRecording(dest: Dest, params: NgParams): Promise<NgReply>;
    stopRecording(dest: Dest, params: NgParams): Promise<NgReply>;
    statistics(dest: Dest, params: NgParams): Promise<NgReply>;
    close(): void;
    socket: import('node:dgram').Socket;
  }
}
