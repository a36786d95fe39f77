/** SQLSTATE holds the error codes pgseal sends itself (PostgreSQL Appendix A). */
export const SQLSTATE = {
  protocolViolation: '08P01',
  connectionFailure: '08006',
  cannotConnect: '08001',
  invalidAuthorization: '28000',
  invalidPassword: '28P01',
  tooManyConnections: '53300',
  programLimitExceeded: '54000',
  featureNotSupported: '0A000',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  ioError: '58030',
  internalError: 'XX000',
} as const;
