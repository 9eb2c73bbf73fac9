//! `Conn`: a read helper serves a request (the pool) and a transaction alike.

use crate::{Arg, Db, Record, Tx};
use yiyang_core::AppResult;

/// Where statements run: the pool (each statement on its own) or a transaction. Lets a
/// read helper serve both a request and a transaction that must see its own writes.
pub trait Conn: Send {
    fn fetch_all<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> impl Future<Output = AppResult<Vec<T>>> + Send;
    fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> impl Future<Output = AppResult<Option<T>>> + Send;
    fn scalar(&mut self, sql: &str, args: Vec<Arg>) -> impl Future<Output = AppResult<i64>> + Send;
}

impl Conn for &Db {
    async fn fetch_all<T: Record>(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<Vec<T>> {
        Db::fetch_all(self, sql, args).await
    }
    async fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> AppResult<Option<T>> {
        Db::fetch_optional(self, sql, args).await
    }
    async fn scalar(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<i64> {
        Db::scalar(self, sql, args).await
    }
}

impl Conn for Tx {
    async fn fetch_all<T: Record>(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<Vec<T>> {
        Tx::fetch_all(self, sql, args).await
    }
    async fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> AppResult<Option<T>> {
        Tx::fetch_optional(self, sql, args).await
    }
    async fn scalar(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<i64> {
        Tx::scalar(self, sql, args).await
    }
}

impl<C: Conn> Conn for &mut C {
    async fn fetch_all<T: Record>(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<Vec<T>> {
        C::fetch_all(self, sql, args).await
    }
    async fn fetch_optional<T: Record>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> AppResult<Option<T>> {
        C::fetch_optional(self, sql, args).await
    }
    async fn scalar(&mut self, sql: &str, args: Vec<Arg>) -> AppResult<i64> {
        C::scalar(self, sql, args).await
    }
}
